"""Outputs written and read back: workbook formatting, CSV columns, the self-contained dashboard in Chromium."""

from __future__ import annotations

import csv
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from connector.reporting import categories as C
from connector.reporting import write_tables
from connector.reporting.outputs.xlsx import sheet_title

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


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
    assert "71.4%" in html and "ICO threshold: not met" in html
    assert "FOI/2025/0008" in html  # overdue list


def test_dashboard_escapes_text(q1_tables: dict[str, pd.DataFrame]) -> None:
    from connector.reporting.outputs.html import render_dashboard

    tables = dict(q1_tables)
    tables["overdue"] = tables["overdue"].assign(Team="<img src=x onerror=alert(1)>")
    html = render_dashboard(tables, council="<b>Council</b>")
    assert "<img src=x" not in html and "&lt;img src=x" in html and "<b>Council" not in html


def _png_pixels(path: Path) -> tuple[int, int, bytes, int]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) into raw rows."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6)
            channels = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out, prev = bytearray(), bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return width, height, bytes(out), channels


@pytest.mark.browser
def test_dashboard_renders_in_headless_chromium(written: dict[str, Path], tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (scripts/dev-setup.sh installs it)")
    shot = tmp_path / "dashboard.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,1600",
        written["html"].resolve().as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=90)
    width, height, pixels, ch = _png_pixels(shot)
    assert (width, height) == (1280, 1600)
    colours: dict[tuple[int, int, int], int] = {}
    for i in range(0, len(pixels), ch * 3):  # every third pixel is plenty
        rgb = (pixels[i], pixels[i + 1], pixels[i + 2])
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
