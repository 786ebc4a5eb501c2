"""CSV files for Power BI: one UTF-8 file per table, stable names, ISO dates, no index column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_csvs(tables: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    """Write ``<folder>/<table>.csv`` for every table; return the paths (stable names for a Power BI folder source)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        path = folder / f"{name}.csv"
        df.to_csv(path, index=False, encoding="utf-8", date_format="%Y-%m-%d", lineterminator="\n")
        paths.append(path)
    return paths
