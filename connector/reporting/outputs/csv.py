"""CSV files for Power BI: one UTF-8 file per table, stable names, ISO dates, no index column, RFC 4180 CRLF
record ends (so a carriage return inside a cell is quoted, not a record break).

Text that a spreadsheet would run as a formula is neutralised first (:mod:`connector.cells`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from connector.cells import neutralise_frame


def write_csvs(tables: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    """Write ``<folder>/<table>.csv`` for every table; return the paths (stable names for a Power BI folder source)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        path = folder / f"{name}.csv"
        neutralise_frame(df).to_csv(path, index=False, encoding="utf-8", date_format="%Y-%m-%d", lineterminator="\r\n")
        paths.append(path)
    return paths
