"""The dashboard reads well from 800 px to 1920 px, measured in headless Chromium at both widths.

A copy of the page gets a small probe script (the dashboard itself has none) that measures the laid-out page and
writes the figures into the DOM, which ``--dump-dom`` prints: nothing wider than the window, no date or reference
broken across lines inside a cell, no heading touching the table above it. Screenshots at both widths are taken
with the shared helper and checked for content (and looked at by the engineer who changed the layout).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from screenshots import CHROMIUM, HEADLESS_FLAGS, NO_CHROMIUM, read_png, screenshot

from connector.reporting import write_tables
from connector.reporting.outputs.html import render_dashboard

WIDTHS = (800, 1920)
#: The "as at" day of the hand-worked Q1 set (tests/reporting/conftest.py).
TODAY = date(2025, 4, 10)
#: Long and short officer names, one with an apostrophe (escaped by the template, drawn as written).
OFFICERS = ("Priya Shah", "Tom O'Neil", "Alexandra Featherstonehaugh-Montgomery")

PROBE = """
<script>
(() => {
  const W = document.documentElement.clientWidth;
  const boxes = [...document.querySelectorAll('header, main, section, .tile, svg, table')];
  const outside = boxes.filter(e => e.getBoundingClientRect().right > W + 0.5 || e.getBoundingClientRect().left < -0.5)
    .map(e => e.tagName + '.' + e.className);
  const wrapped = [...document.querySelectorAll('td')].filter(td => {
    const text = td.textContent.trim();
    if (!/^\\d{4}-\\d{2}-\\d{2}$/.test(text) && !/^[A-Z]{2,6}[\\/-]\\d{4}[\\/-]\\w+$/.test(text)) return false;
    const range = document.createRange(); range.selectNodeContents(td);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
  }).map(td => td.textContent.trim());
  const crowded = [...document.querySelectorAll('section h2')].filter(h => {
    const prev = h.previousElementSibling;
    return prev && h.getBoundingClientRect().top < prev.getBoundingClientRect().bottom + 8;
  }).map(h => h.textContent);
  const sections = [...document.querySelectorAll('section')].map(s => s.scrollWidth > s.clientWidth + 1);
  document.body.setAttribute('data-probe', JSON.stringify({
    width: W, scrollWidth: document.documentElement.scrollWidth, outside, wrapped, crowded,
    sectionsScrolling: sections.filter(Boolean).length,
  }));
})();
</script>
"""


@pytest.fixture(scope="module")
def page(fixture_frame: pd.DataFrame, engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Q1 set with officers assigned (the widest page: the per-officer and per-stage views are on it too)."""
    from connector.reporting import compute_measures

    frame = fixture_frame.assign(assigned_officer=[OFFICERS[i % len(OFFICERS)] for i in range(len(fixture_frame))])
    tables = compute_measures(frame, "2025-Q1", today=TODAY, engine=engine)
    assert {"open_caseload_by_officer", "open_caseload_by_stage"} <= set(tables)
    out = tmp_path_factory.mktemp("dashboard")
    paths = write_tables(tables, ["html"], out, "2025-Q1", "Example Borough Council")
    return next(p for p in paths if p.suffix == ".html")


def probe(page: Path, width: int, tmp_path: Path) -> dict[str, object]:
    assert CHROMIUM is not None
    probed = tmp_path / f"probe-{width}.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = subprocess.run(
        [
            CHROMIUM,
            *HEADLESS_FLAGS,
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / f'profile-{width}'}",
            f"--window-size={width},1400",
            "--virtual-time-budget=2000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    found = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert found, done.stdout[-2000:]
    return dict(json.loads(html.unescape(found.group(1))))


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_dashboard_layout_at(width: int, page: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    found = probe(page, width, tmp_path)
    assert found["width"] == width
    assert found["scrollWidth"] == width, f"the page is wider than {width} px: {found}"
    assert found["outside"] == [], found
    assert found["wrapped"] == [], found
    assert found["crowded"] == [], found
    shot = screenshot(page, tmp_path / f"dashboard-{width}.png", tmp_path / f"shot-{width}", (width, 1400))
    w, h, rows = read_png(shot)
    assert (w, h) == (width, 1400)
    # The right-hand border of the sections is painted inside the window: nothing is clipped at the edge.
    border = (177, 180, 182)
    right_edge = [x for x in range(w) if sum(1 for row in rows[200:1400:10] if row[x] == border) > 20]
    assert right_edge and max(right_edge) < w - 8, right_edge[-5:]


def test_trend_axis_ticks_are_labelled_and_the_threshold_tile_is_not_a_score(
    q1_tables: dict[str, pd.DataFrame],
) -> None:
    page = render_dashboard(q1_tables, council="Example Borough Council")
    trend = page.split("Monthly trend", 1)[1].split("</svg>", 1)[0]
    left = re.findall(r'text-anchor="end">([\d,]+)</text>', trend)
    right = re.findall(r">(\d+)%</text>", trend)
    assert len(left) == 5 and left[0] == "0" and len(set(left)) == 5, left
    assert right == ["0", "25", "50", "75", "100"], right
    assert "requests received" in trend and "% in time" in trend
    tiles = re.findall(r'<div class="v[^"]*">([^<]*)</div><div class="l">([^<]*)</div>', page)
    threshold = next((v, label) for v, label in tiles if "ICO threshold" in label)
    assert threshold[0] in ("Met", "Not met"), threshold  # a verdict, not a percentage beside the real one
    assert "90% answered in time" in html.unescape(threshold[1])
