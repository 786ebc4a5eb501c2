"""A rendered letter opened in headless Chromium: the screenshot shows the header band, text and logo."""

from __future__ import annotations

import pytest
from letters_support import TODAY
from screenshots import CHROMIUM, NO_CHROMIUM, read_png, screenshot, write_png

from connector.config import load_settings
from connector.letters import LetterType, render_letter

HEADER = (0x1D, 0x4F, 0x6E)  # the base layout's header band colour
LOGO = (200, 30, 30)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM),
]


def _close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 6) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_letter_layout_in_headless_chromium(tmp_path, make_case):
    write_png(tmp_path / "logo.png", 40, 40, LOGO)
    settings = load_settings(None, base_dir=tmp_path, council={"logo_path": "logo.png"})
    case = make_case("foia", request_text="<script>document.body.style.background='red'</script>Pothole data")
    letter = render_letter(LetterType.ACKNOWLEDGEMENT, case, settings, today=TODAY)
    html = tmp_path / "letter.html"
    html.write_text(letter.html, encoding="utf-8")
    png = tmp_path / "letter.png"
    screenshot(html, png, tmp_path / "profile", (900, 1200))

    width, height, rows = read_png(png)
    assert (width, height) == (900, 1200)
    # Header band: the top rows of the centred 680 px column are the brand colour, margins are not.
    band = [rows[y][740] for y in range(5, 90, 5)]
    assert all(_close(p, HEADER) for p in band), band
    assert not _close(rows[30][20], HEADER)  # page margin outside the letter column
    assert min(rows[130][740]) > 245  # the band ends; the letter body is white below it
    # Logo drawn inside the band (left of the council name).
    assert any(_close(rows[y][x], LOGO, 20) for y in range(15, 60) for x in range(130, 200))
    # Text below the header: the letter body is white paper with dark text on it, not blank.
    body = [rows[y][x] for y in range(90, 700, 3) for x in range(140, 760, 3)]
    dark = sum(1 for p in body if max(p) < 110)
    white = sum(1 for p in body if min(p) > 245)
    assert white > len(body) * 0.5, "letter body should be mostly white paper"
    assert dark > len(body) * 0.01, "letter body should carry text"
    # The footer band (contact details) sits below the text, still inside the window.
    assert any(_close(rows[y][740], (0xE4, 0xEB, 0xF1), 3) for y in range(700, 1200, 4))
    # The injected script did not run (it would have painted the page red).
    assert not any(_close(rows[y][20], (255, 0, 0), 30) for y in range(0, 1200, 50))
