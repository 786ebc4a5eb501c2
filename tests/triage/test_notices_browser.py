"""Every triage and decision notice x every regime it exists in: rendered, screenshot in Chromium, printed to PDF.

Chromium is slow to start on a shared machine, so the checks are batched: one page shows every letter in its own
iframe cell (one screenshot, each cell checked for the letter's header band and text), and one PDF holds every
letter from a new page (each page turned into PNG with pdftoppm and checked; pdftotext finds every letter's reference
and its complaint route). `letters preview` is run once to show it writes the PDF itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from screenshots import CHROMIUM, NO_CHROMIUM, read_png, screenshot

from connector.cli import cli
from connector.config import load_settings
from connector.letters import LetterType, render_letter
from connector.letters.pdf import html_to_pdf
from connector.model import FoiCase, Regime, Requester

pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)]

HEADER = (0x1D, 0x4F, 0x6E)
#: Hand-written: which notices exist in which regimes (FOISA/EISR have no s.17; SAR has its own letters).
EXPECTED = {
    "advice_and_assistance": ["foia", "foisa", "sar"],
    "routing_reply": ["foia", "eir", "foisa", "eisr", "sar"],
    "refusal": ["foia", "eir", "foisa", "eisr"],
    "cost_limit": ["foia", "foisa"],
    "vexatious": ["foia", "foisa"],
    "repeated": ["foia", "foisa"],
    "ncnd": ["foia", "eir", "foisa", "eisr"],
    "sar_response": ["sar"],
    "sar_refusal": ["sar"],
    "review_outcome": ["foia", "eir", "foisa", "eisr"],
    "transfer": ["foia", "eir", "foisa", "eisr"],
}
#: Hand-written: what each notice must quote for each regime (the provision it is given under).
PROVISION = {
    ("refusal", "foia"): "section 17(1)",
    ("refusal", "foisa"): "section 16(1)",
    ("refusal", "eir"): "regulation 14",
    ("refusal", "eisr"): "regulation 13",
    ("cost_limit", "foia"): "section 12(1)",
    ("cost_limit", "foisa"): "section 12(1)",
    ("vexatious", "foia"): "section 14(1)",
    ("vexatious", "foisa"): "section 14(1)",
    ("repeated", "foia"): "section 14(2)",
    ("repeated", "foisa"): "section 14(2)",
    ("ncnd", "foia"): "section 17(1)",
    ("ncnd", "foisa"): "section 18(1)",
    ("ncnd", "eir"): "regulation 12(6)",
    ("ncnd", "eisr"): "regulation 10(8)",
    ("sar_refusal", "sar"): "Article 12(5)(b)",
    ("advice_and_assistance", "foia"): "section 16",
    ("advice_and_assistance", "foisa"): "section 15",
}
#: Hand-written complaint route: the ICO for FOIA, EIR and SAR; the Scottish Information Commissioner for Scotland.
REGULATOR = {
    "foia": "Information Commissioner",
    "eir": "Information Commissioner",
    "sar": "Information Commissioner",
    "foisa": "Scottish Information Commissioner",
    "eisr": "Scottish Information Commissioner",
}
NO_COMPLAINT_BLOCK = {"advice_and_assistance", "routing_reply"}  # no decision yet: questions go to the FOI team
OUTCOME = {
    "refusal": "partially_withheld",
    "cost_limit": "refused_cost",
    "vexatious": "vexatious",
    "repeated": "repeated",
    "ncnd": "neither_confirm_nor_deny",
    "sar_response": "granted_in_full",
    "sar_refusal": "manifestly_excessive",
    "transfer": "transferred",
}


def _combos() -> list[tuple[str, str]]:
    return [(t, r) for t, regimes in EXPECTED.items() for r in regimes]


def _case(n: int, letter: str, regime: str) -> FoiCase:
    return FoiCase(
        reference=f"N-{n:02d}",
        regime=Regime(regime),
        received_at=datetime(2025, 7, 4, 9, 12, tzinfo=UTC),
        channel="email",
        requester=Requester(name="Sam Example", email="sam@example.org"),
        subject="Pothole repairs",
        request_text="Please send the number of pothole repairs on Station Road in 2024.",
        stage={"advice_and_assistance": "invalid", "routing_reply": "rerouted"}.get(letter, "in_progress"),
        triage={"advice_and_assistance": "invalid", "routing_reply": "business_as_usual"}.get(letter, "request"),
        triage_reason="no_address" if regime != "sar" else "identity_unknown",
        outcome=OUTCOME.get(letter),
        review_outcome="upheld_in_part" if letter == "review_outcome" else None,
        exemptions=["reg12(5)(b)"] if regime in ("eir", "eisr") else ["s40(2)"],
        decision_reasons="Releasing the names would disclose third parties' personal data.",
        transfer_to="Anyshire County Council" if letter == "transfer" else None,
        transfer_contact="foi@anyshire.example.gov.uk" if letter == "transfer" else None,
        routing_reply="Our Highways team will inspect it." if letter == "routing_reply" else None,
        service_area="Highways and Transport" if letter == "routing_reply" else None,
    )


def _close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")
def test_every_notice_in_every_regime_renders_screenshots_and_prints(tmp_path: Path) -> None:
    from connector.letters.types import APPLIES_TO

    settings = load_settings(None, base_dir=tmp_path)
    combos = _combos()
    assert {(t.value, r.value) for t in map(LetterType, EXPECTED) for r in APPLIES_TO[t]} == set(combos)
    assert len(combos) >= 30
    bodies, cells = [], []
    for n, (letter, regime) in enumerate(combos):
        rendered = render_letter(letter, _case(n, letter, regime), settings, today=date(2025, 7, 7))
        for text in (rendered.html, rendered.text):
            assert f"N-{n:02d}" in text
            assert "{{" not in text and "{%" not in text
            if letter not in NO_COMPLAINT_BLOCK:
                assert REGULATOR[regime] in text, (letter, regime)
                if regime in ("foisa", "eisr"):
                    assert "Information Commissioner's Office" not in text, (letter, regime)
                else:
                    assert "Scottish" not in text, (letter, regime)
        if (letter, regime) in PROVISION:
            assert PROVISION[(letter, regime)] in rendered.text, (letter, regime)
        page = tmp_path / f"letter-{n:02d}.html"
        page.write_text(rendered.html, encoding="utf-8")
        cells.append(page)
        body = re.search(r"<body[^>]*>(.*)</body>", rendered.html, re.S)
        assert body is not None
        bodies.append(f'<section style="break-after:page">{body.group(1)}</section>')

    # One screenshot of every letter, each in a 700x1000 iframe shown at half size in a 5-column grid.
    cols, cw, ch = 5, 350, 500
    grid = "".join(
        f'<div style="position:absolute;left:{(i % cols) * cw}px;top:{(i // cols) * ch}px;width:{cw}px;height:{ch}px;'
        f'overflow:hidden"><iframe src="{p.name}" style="width:700px;height:1000px;border:0;transform:scale(0.5);'
        f'transform-origin:0 0"></iframe></div>'
        for i, p in enumerate(cells)
    )
    index = tmp_path / "grid.html"
    index.write_text(f"<html><body style='margin:0;background:#000'>{grid}</body></html>", encoding="utf-8")
    rows_n = (len(cells) + cols - 1) // cols
    png = screenshot(index, tmp_path / "grid.png", tmp_path / "profile", (cols * cw, rows_n * ch))
    keep = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, keep / "notices-grid.png")  # for a person to look at (var/ is not committed)
    _, _, rows = read_png(png)
    for i, (letter, regime) in enumerate(combos):
        x0, y0 = (i % cols) * cw, (i // cols) * ch
        band = [rows[y0 + y][x0 + 175] for y in range(4, 30, 4)]
        assert all(_close(p, HEADER) for p in band), (letter, regime, band)
        body = [rows[y][x] for y in range(y0 + 60, y0 + ch - 5, 3) for x in range(x0 + 15, x0 + cw - 15, 3)]
        # Half-size text is anti-aliased grey, so "ink" is anything clearly darker than the paper.
        ink = sum(1 for p in body if max(p) < 170)
        white = sum(1 for p in body if min(p) > 240)
        assert white > len(body) * 0.4, (letter, regime, "letter paper missing")
        assert ink > len(body) * 0.02, (letter, regime, "no text")

    # One PDF with every letter from a new page; pages to PNG with pdftoppm, text with pdftotext.
    book = tmp_path / "book.html"
    book.write_text("<html><body style='margin:0'>" + "".join(bodies) + "</body></html>", encoding="utf-8")
    pdf = html_to_pdf(book, tmp_path / "book.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    pages = text.split("\f")
    assert len([p for p in pages if p.strip()]) >= len(combos)
    for n, (letter, regime) in enumerate(combos):
        assert f"N-{n:02d}" in text, (letter, regime)
    assert "Scottish Information Commissioner" in text and "Information Commissioner's Office" in text
    pngs = tmp_path / "pages"
    pngs.mkdir()
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(pngs / "p")], check=True, capture_output=True)
    files = sorted(pngs.glob("p-*.png"))
    assert len(files) == len(pages) - (0 if pages[-1].strip() else 1)
    for f, page_text in zip(files, pages, strict=False):
        assert len(page_text.split()) >= 5, f"{f.name}: no text on the page"
        width, height, prows = read_png(f)
        assert height > width  # A4 portrait
        px = [prows[y][x] for y in range(height) for x in range(width)]
        assert sum(1 for p in px if max(p) < 200) > len(px) * 0.001, f"{f.name} is blank"
        assert sum(1 for p in px if min(p) > 230) > len(px) * 0.3, f"{f.name} is not paper"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")
def test_letters_preview_writes_a_pdf(tmp_path: Path) -> None:
    case = _case(1, "refusal", "foisa")
    data = tmp_path / "case.json"
    data.write_text(case.model_dump_json(), encoding="utf-8")
    out = tmp_path / "preview"
    res = CliRunner().invoke(
        cli,
        [
            "letters",
            "preview",
            "N-01",
            "--case-json",
            str(data),
            "--type",
            "refusal",
            "--today",
            "2025-07-07",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    pdf = out / "N-01_refusal.pdf"
    assert pdf.is_file() and str(pdf) in res.output
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    assert "section 16(1)" in text and "Scottish Information Commissioner" in text and "N-01" in text
