"""`foi-sync report` and write_reports on a store filled from the hand-worked fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from connector.cli import cli
from connector.config import load_settings
from connector.errors import ConfigError
from connector.reporting import ReportingStore, normalise_case, write_reports


@pytest.fixture
def config(tmp_path: Path, fixture_frame: pd.DataFrame) -> Path:
    rows = fixture_frame.astype(object).where(fixture_frame.notna(), None).to_dict("records")
    with ReportingStore(tmp_path / "var" / "reporting.sqlite") as store:
        store.upsert([normalise_case(r) for r in rows])
    path = tmp_path / "foi-sync.toml"
    path.write_text(
        '[council]\nname = "Exampleton Council"\n[report]\nout_dir = "out"\nstore_path = "var/reporting.sqlite"\n'
        'formats = ["xlsx", "csv"]\n',
        encoding="utf-8",
    )
    return path


def test_report_command_writes_the_chosen_formats(config: Path) -> None:
    out = config.parent / "q1"
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(config),
            "report",
            "--period",
            "2025-Q1",
            "--as-at",
            "2025-04-10",
            "--format",
            "html,xlsx",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "71.4" in result.output and "Meets ICO 90% threshold" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["foi-report-2025-Q1.html", "foi-report-2025-Q1.xlsx"]
    assert "Exampleton Council" in (out / "foi-report-2025-Q1.html").read_text(encoding="utf-8")


def test_report_command_from_to_and_config_defaults(config: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(config), "report", "--from", "2025-02-01", "--to", "2025-02-28", "--as-at", "2025-04-10"]
    )
    assert result.exit_code == 0, result.output
    out = config.parent / "out"
    assert (out / "foi-report-2025-02-01_to_2025-02-28.xlsx").exists()  # formats from [report]
    summary = pd.read_csv(out / "foi-report-2025-02-01_to_2025-02-28-csv" / "summary.csv")
    values = dict(zip(summary["Measure"], summary["Value"], strict=True))
    assert values["Total requests received (all regimes, including SAR)"] == "6"  # c05-c08, c17, c18


def test_report_command_errors_name_the_fix(config: Path, tmp_path: Path) -> None:
    bad = CliRunner().invoke(cli, ["--config", str(config), "report", "--period", "2025-Q5"])
    # main() turns a ConfigError into exit code 2; CliRunner shows the exception itself
    assert isinstance(bad.exception, ConfigError) and bad.exception.exit_code == 2
    assert "2025-Q1 (calendar quarter)" in str(bad.exception)
    both = CliRunner().invoke(cli, ["--config", str(config), "report", "--period", "2025-Q1", "--from", "2025-01-01"])
    assert isinstance(both.exception, ConfigError) and "not both" in str(both.exception)
    fmt = CliRunner().invoke(cli, ["--config", str(config), "report", "--format", "pdf"])
    assert isinstance(fmt.exception, ConfigError) and "xlsx, html, csv" in str(fmt.exception)


def test_write_reports_library_call(config: Path, engine: Any) -> None:
    settings = load_settings(config)
    paths = write_reports(settings, "2025-Q1", ["xlsx"], engine=engine)
    assert [p.name for p in paths] == ["foi-report-2025-Q1.xlsx"]
    assert load_workbook(paths[0]).sheetnames[0] == "Summary"
    settings.report.store_path = config.parent / "missing.sqlite"
    with pytest.raises(ConfigError, match="run 'foi-sync pull' first"):
        write_reports(settings)
