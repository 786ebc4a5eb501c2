"""Outputs written and read back: workbook formatting, CSV columns, the self-contained dashboard in Chromium."""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook
from screenshots import CHROMIUM, NO_CHROMIUM, read_png, screenshot

from connector.reporting import categories as C
from connector.reporting import write_tables
from connector.reporting.outputs.xlsx import sheet_title

#: The "as at" day of the hand-worked Q1 set (tests/reporting/conftest.py).
TODAY = date(2025, 4, 10)


@pytest.fixture(scope="module")
def written(q1_tables: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    paths = write_tables(q1_tables, ["xlsx", "html", "csv"], out, "2025-Q1", "Example Borough Council")
    return {"out": out, **{p.suffix.lstrip("."): p for p in paths if p.suffix in (".xlsx", ".html")}}


def test_workbook_has_a_formatted_sheet_per_table(written: dict[str, Path], q1_tables: dict[str, pd.DataFrame]) -> None:
    wb = load_workbook(written["xlsx"])
    in_book = {n: df for n, df in q1_tables.items() if n != "cases"}  # case-level rows go to CSV only
    assert wb.sheetnames == [sheet_title(n) for n in in_book]
    for name, df in in_book.items():
        ws = wb[sheet_title(name)]
        assert ws.freeze_panes == "A2", name
        header = [c.value for c in ws[1]]
        assert header == list(df.columns), name
        assert all(c.font.bold for c in ws[1]), name
        assert ws.max_row == len(df) + 1, name
        assert ws.column_dimensions["A"].width >= 9
    t = wb[sheet_title("timeliness_by_regime")]
    pct_col = [c.value for c in t[1]].index(C.PCT_IN_TIME) + 1
    last = t.cell(row=t.max_row, column=pct_col)
    assert last.value == 71.4 and last.number_format == '0.0"%"'
    od = wb[sheet_title("overdue")]
    assert od.cell(row=2, column=2).value == "FOI/2025/0008"
    assert od.cell(row=2, column=6).number_format == "yyyy-mm-dd"


def test_csv_files_for_power_bi(written: dict[str, Path], q1_tables: dict[str, pd.DataFrame]) -> None:
    folder = written["out"] / "foi-report-2025-Q1-csv"
    assert sorted(p.stem for p in folder.glob("*.csv")) == sorted(q1_tables)
    with (folder / "timeliness_by_regime.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(q1_tables["timeliness_by_regime"].columns)
    assert C.PCT_IN_TIME in rows[0]  # the Cabinet Office header, quotes and all, survives the round trip
    back = pd.read_csv(folder / "overdue.csv")
    assert back["Due"].tolist() == ["2025-03-18", "2025-04-08"]  # ISO dates
    assert not (folder / "summary.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # plain UTF-8
    cases = pd.read_csv(folder / "cases.csv")
    assert len(cases) == 19 and "timeliness" in cases.columns  # one row per case in the period
    assert not {"subject", "request_text", "requester", "email", "name"} & set(cases.columns)


def test_dashboard_is_self_contained(written: dict[str, Path]) -> None:
    html = written["html"].read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched from anywhere
    assert "@import" not in html and "url(" not in html
    assert html.count("<svg") >= 6
    assert "71.4%" in html and "ICO threshold: 90% answered in time (not met)" in html
    assert "FOI/2025/0008" in html  # overdue list


def test_dashboard_escapes_text(q1_tables: dict[str, pd.DataFrame]) -> None:
    from connector.reporting.outputs.html import render_dashboard

    tables = dict(q1_tables)
    tables["overdue"] = tables["overdue"].assign(Team="<img src=x onerror=alert(1)>")
    html = render_dashboard(tables, council="<b>Council</b>")
    assert "<img src=x" not in html and "&lt;img src=x" in html and "<b>Council" not in html


def test_dashboard_escapes_every_place_a_name_reaches(fixture_frame: pd.DataFrame, engine: Any) -> None:
    """Officer, team and exemption labels reach tables, chart labels and SVG tooltips; all go through the template's
    autoescaping (a script tag as a team name stays text everywhere)."""
    from connector.reporting import compute_measures
    from connector.reporting.outputs.html import render_dashboard

    hostile = '<script>alert("x")</script>'
    frame = fixture_frame.assign(assigned_officer=hostile, assigned_team=hostile)
    tables = compute_measures(frame, "2025-Q1", today=TODAY, engine=engine)
    html = render_dashboard(tables, council=hostile, title=hostile)
    assert "<script" not in html
    # header and <title>, team chart label and its tooltip, team, officer and the two lists' team cells
    assert html.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 8


def test_dashboard_shows_officer_and_stage_views_when_the_data_has_them(
    q1_tables: dict[str, pd.DataFrame], fixture_frame: pd.DataFrame, engine: Any
) -> None:
    from connector.reporting import compute_measures
    from connector.reporting.outputs.html import render_dashboard

    plain = render_dashboard(q1_tables)
    assert "Open caseload by stage" in plain and "Open caseload by officer" not in plain  # no officers recorded
    officers = ["Tom O'Neil" if i % 2 == 0 else None for i in range(len(fixture_frame))]  # c01, c03, ... assigned
    frame = fixture_frame.assign(assigned_officer=officers)
    page = render_dashboard(compute_measures(frame, "2025-Q1", today=TODAY, engine=engine))
    by_officer = page.split("<h2>Open caseload by officer</h2>", 1)[1].split("</section>", 1)[0]
    stages = page.split("<h2>Open caseload by stage</h2>", 1)[1].split("</section>", 1)[0]
    # open on 10 Apr: c09 (Team B) and c11 (Team C) are Tom O'Neil's; c08 (A), c10 (B), c12 (C) have no officer
    assert re.findall(r"<td>([^<]*)</td><td>Tom O&#39;Neil</td>", by_officer) == ["Team B", "Team C"]
    assert re.findall(r"<td>([^<]*)</td><td>Unassigned</td>", by_officer) == ["Team A", "Team B", "Team C"]
    assert re.findall(r"<tr><td>([^<]*)</td>", stages) == [
        "Acknowledged",
        "Clarification requested",
        "In progress",
        "All stages",
    ]


@pytest.mark.browser
def test_dashboard_renders_in_headless_chromium(written: dict[str, Path], tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    shot = screenshot(written["html"], tmp_path / "dashboard.png", tmp_path / "profile", (1280, 1600))
    width, height, rows = read_png(shot)
    assert (width, height) == (1280, 1600)
    colours: dict[tuple[int, int, int], int] = {}
    for rgb in (px for row in rows for px in row[::3]):  # every third pixel is plenty
        colours[rgb] = colours.get(rgb, 0) + 1
    assert len(colours) > 20, "the screenshot is blank"
    # chart and tile colours actually painted: met green, late red, bar blue, extension amber
    for name, rgb in {
        "green": (0, 112, 60),
        "red": (212, 53, 28),
        "blue": (29, 112, 184),
        "amber": (244, 119, 56),
    }.items():
        assert colours.get(rgb, 0) > 50, f"no {name} pixels: the charts did not render"
