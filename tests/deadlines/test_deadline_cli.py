"""`foi-sync deadline`: what officers and checks run. Real process, real config (the shipped example)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "connector"]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run([*cmd, "deadline", *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def as_json(*args: str, config: Path | None = None) -> dict:
    proc = run(*args, "--json", config=config)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_json_both_receipt_readings() -> None:
    a = as_json("--regime", "foia", "--received", "2022-12-24", "--receipt-rule", "arrival")
    b = as_json("--regime", "foia", "--received", "2022-12-24", "--receipt-rule", "next-working-day")
    assert (a["due"], b["due"]) == ("2023-01-26", "2023-01-27")
    assert "extended_due" not in a


def test_text_output_explains_the_count() -> None:
    proc = run("--regime", "foia", "--received", "2022-12-24T10:00:00Z", "--as-of", "2023-01-20")
    assert proc.returncode == 0, proc.stderr
    assert "Due: Thu 26 Jan 2023 (2023-01-26)" in proc.stdout
    assert "Skipped: 26 Dec 2022 Boxing Day, 27 Dec 2022 Christmas Day (substitute)" in proc.stdout
    assert "16 working days elapsed, 4 remaining" in proc.stdout


@pytest.mark.parametrize(
    ("args", "due", "extended"),
    [
        (["--regime", "foia", "--received", "2025-01-03", "--extension", "pit"], "2025-01-31", "2025-02-28"),
        (["--regime", "eir", "--received", "2025-01-03", "--extension", "eir"], "2025-01-31", "2025-02-28"),
        (["--regime", "sar", "--received", "2024-01-31", "--extension", "sar"], "2024-02-29", "2024-04-30"),
        (
            ["--regime", "foia", "--received", "2025-01-03", "--fee-notice", "2025-01-06", "--fee-paid", "2025-01-08",
             "--extension", "pit"],
            "2025-02-05",
            "2025-03-05",
        ),
    ],
)  # fmt: skip
def test_extensions_and_fees(args: list[str], due: str, extended: str) -> None:
    out = as_json(*args)
    assert (out["due"], out["extended_due"]) == (due, extended)


def test_clarification_and_nation_and_timezone() -> None:
    out = as_json(
        "--regime", "foia", "--received", "2025-01-06",
        "--clarification-requested", "2025-01-08", "--clarification-received", "2025-01-13",
    )  # fmt: skip
    assert out["due"] == "2025-02-10" and out["day0"] == "2025-01-13"
    # 12 Jun 2022 -> Tue 12 Jul: a bank holiday in Northern Ireland only.
    assert as_json("--regime", "sar", "--received", "2022-06-12", "--nation", "northern-ireland")["due"] == "2022-07-13"
    assert as_json("--regime", "sar", "--received", "2022-06-12", "--nation", "england")["due"] == "2022-07-12"
    # 23:30 UTC on 31 Mar 2025 is 1 Apr in London: due Thu 1 May 2025.
    assert as_json("--regime", "foia", "--received", "2025-03-31T23:30:00Z")["due"] == "2025-05-01"


def test_bad_input_is_explained() -> None:
    proc = run("--regime", "foia", "--received", "31/03/2025")
    assert proc.returncode == 2 and "use e.g. 2025-01-06" in proc.stderr
    proc = run("--regime", "foia", "--received", "2025-01-03", "--fee-paid", "2025-01-08")
    assert proc.returncode == 2 and "--fee-paid needs --fee-notice" in proc.stderr


def test_override_file_from_config(tmp_path: Path) -> None:
    (tmp_path / "overrides.toml").write_text(
        '[[add]]\ndate = 2031-01-15\napplies_to = ["wales"]\nreason = "test proclamation"\n', encoding="utf-8"
    )
    config = tmp_path / "foi-sync.toml"
    config.write_text('[deadlines]\nholiday_overrides = "overrides.toml"\n', encoding="utf-8")
    assert as_json("--regime", "foia", "--received", "2031-01-03", config=config)["due"] == "2031-02-03"
    assert as_json("--regime", "foia", "--received", "2031-01-03")["due"] == "2031-01-31"
