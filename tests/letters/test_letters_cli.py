"""``foi-sync letters preview`` and ``list-types`` through the real CLI entry point."""

from __future__ import annotations

from click.testing import CliRunner
from letters_support import DATA

from connector.cli import cli


def test_preview_writes_html_and_text(tmp_path):
    out = tmp_path / "preview"
    res = CliRunner().invoke(
        cli,
        [
            "letters",
            "preview",
            "FOI/2025/0142",
            "--case-json",
            str(DATA / "cases.json"),
            "--today",
            "2025-07-07",
            "--out",
            str(out),
            "--no-pdf",  # the PDF path is tested in tests/triage/test_notices_browser.py
        ],
    )
    assert res.exit_code == 0, res.output
    assert "acknowledgement: Acknowledgement of your request - FOI ref FOI/2025/0142" in res.output
    html = (out / "FOI%2F2025%2F0142_acknowledgement.html").read_text(encoding="utf-8")
    text = (out / "FOI%2F2025%2F0142_acknowledgement.txt").read_text(encoding="utf-8")
    assert "5 August 2025" in html and "Date we received your request: 4 July 2025" in text


def test_preview_due_letters_and_explicit_type(tmp_path):
    out = tmp_path / "p"
    args = ["letters", "preview", "foisa-2025-0007", "--case-json", str(DATA / "cases.json"), "--out", str(out)]
    args.append("--no-pdf")
    res = CliRunner().invoke(cli, [*args, "--today", "2025-07-08"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "FOISA-2025-0007_acknowledgement.html",
        "FOISA-2025-0007_acknowledgement.txt",
        "FOISA-2025-0007_clarification.html",
        "FOISA-2025-0007_clarification.txt",
    ]
    assert "primary schools, secondary schools" in (out / "FOISA-2025-0007_clarification.txt").read_text()
    res = CliRunner().invoke(cli, [*args, "--type", "transfer", "--transfer-to", "Exampleshire Health Board"])
    assert res.exit_code == 0, res.output
    assert "Exampleshire Health Board" in (out / "FOISA-2025-0007_transfer.txt").read_text()


def test_preview_errors_are_actionable(tmp_path):
    args = ["letters", "preview", "NOPE-1", "--case-json", str(DATA / "cases.json"), "--out", str(tmp_path)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0 and "no case with reference NOPE-1" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"reference": "X", "regime": "foia"}', encoding="utf-8")
    res = CliRunner().invoke(cli, ["letters", "preview", "X", "--case-json", str(bad), "--out", str(tmp_path)])
    assert res.exit_code != 0 and "received_at" in res.output


def test_list_types():
    res = CliRunner().invoke(cli, ["letters", "list-types"])
    assert res.exit_code == 0
    assert "pit_extension" in res.output and "eir_extension" in res.output
