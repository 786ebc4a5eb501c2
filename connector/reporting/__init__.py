"""Reporting: a local mirror of the CRM's cases, the compliance measures, and xlsx/html/csv outputs.

Contract: ``pull_cases(client, settings, mapping, store) -> PullResult``; ``ReportingStore(path)``;
``compute_measures(frame, period) -> dict[str, DataFrame]``;
``write_reports(settings, period=None, formats=None, out_dir=None) -> list[Path]``.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from connector.config import Settings
from connector.errors import ConfigError
from connector.reporting.measures import compute_measures
from connector.reporting.periods import Period, make_period, parse_period
from connector.reporting.pull import PullResult, pull_cases
from connector.reporting.store import ReportingStore, normalise_activity, normalise_case

if TYPE_CHECKING:
    import pandas as pd

    from connector.deadlines.engine import DeadlineEngine

log = logging.getLogger(__name__)

FORMATS = ("xlsx", "html", "csv")

__all__ = [
    "FORMATS",
    "Period",
    "PullResult",
    "ReportingStore",
    "build_report",
    "compute_measures",
    "make_period",
    "normalise_activity",
    "normalise_case",
    "parse_period",
    "pull_cases",
    "write_reports",
    "write_tables",
]


def write_tables(
    tables: dict[str, pd.DataFrame], formats: list[str] | tuple[str, ...], out_dir: Path, slug: str, council: str = ""
) -> list[Path]:
    """Write already-computed tables in each format; file names are stable per period (Power BI can point at them)."""
    from connector.reporting.outputs.csv import write_csvs
    from connector.reporting.outputs.html import write_dashboard
    from connector.reporting.outputs.xlsx import write_workbook

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown report format(s) {', '.join(unknown)}; use any of {', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    stem = f"foi-report-{slug}"
    if "xlsx" in formats:
        paths.append(write_workbook(tables, out_dir / f"{stem}.xlsx", title=f"{council} FOI compliance report".strip()))
    if "html" in formats:
        paths.append(write_dashboard(tables, out_dir / f"{stem}.html", council=council))
    if "csv" in formats:
        paths.extend(write_csvs(tables, out_dir / f"{stem}-csv"))
    return paths


def build_report(
    settings: Settings,
    period: Period | str | None = None,
    *,
    date_from: str | date | None = None,
    date_to: str | date | None = None,
    today: date | None = None,
    engine: DeadlineEngine | None = None,
) -> tuple[dict[str, pd.DataFrame], Period, int]:
    """Read the reporting store (settings.report.store_path) and compute every table: (tables, period, cases)."""
    from connector.deadlines import DeadlineEngine

    per = make_period(period, date_from, date_to)
    store_path = Path(settings.report.store_path)
    if not store_path.exists():
        raise ConfigError(
            f"report.store_path {store_path} does not exist yet. Fix: run 'foi-sync pull' first to mirror the CRM"
        )
    with ReportingStore(store_path) as store:
        frame = store.frame()
        activities = store.activities_frame()
    engine = engine or DeadlineEngine.from_settings(settings)
    tables = compute_measures(
        frame,
        per,
        today=today,
        engine=engine,
        due_soon_days=settings.deadlines.due_soon_working_days,
        activities=activities,
        ack_days=settings.report.acknowledge_within_working_days,
    )
    return tables, per, len(frame)


def write_reports(
    settings: Settings,
    period: Period | str | None = None,
    formats: list[str] | None = None,
    out_dir: Path | None = None,
    *,
    date_from: str | date | None = None,
    date_to: str | date | None = None,
    today: date | None = None,
    engine: DeadlineEngine | None = None,
) -> list[Path]:
    """Compute every measure from the store and write the chosen formats (default settings.report.formats)."""
    tables, per, count = build_report(
        settings, period, date_from=date_from, date_to=date_to, today=today, engine=engine
    )
    out = Path(out_dir) if out_dir is not None else Path(settings.report.out_dir)
    paths = write_tables(tables, list(formats or settings.report.formats), out, per.slug, settings.council.name)
    log.info("report %s: %d cases in the store, %d files written to %s", per.label, count, len(paths), out)
    return paths
