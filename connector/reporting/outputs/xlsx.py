"""Excel workbook: one formatted sheet per report table (bold frozen header, widths, number formats, filters).

Written in openpyxl's write-only mode so large lists (overdue cases) stay fast. Every text cell is stored with the
string type (openpyxl would otherwise store text beginning with ``=`` as a formula) and neutralised by OWASP's
CSV-injection rule (:mod:`connector.cells`), so requester text can never run as a formula.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from connector.cells import neutralise

#: Tables too detailed for a workbook (they go to CSV for Power BI).
NOT_IN_WORKBOOK = {"cases"}

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1D70B8")
HEADER_ALIGN = Alignment(wrap_text=True, vertical="top")
PCT_FORMAT = '0.0"%"'
INT_FORMAT = "#,##0"
DEC_FORMAT = "0.0#"
DATE_FORMAT = "yyyy-mm-dd"


def sheet_title(name: str) -> str:
    """``volumes_by_channel`` -> ``Volumes by channel`` (Excel allows 31 characters)."""
    return name.replace("_", " ").capitalize()[:31]


def _cell_value(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()  # numpy scalar -> Python
    return value


def _text_cell(ws: WriteOnlyWorksheet, text: str) -> Cell:
    """A string cell, never a formula, whatever the text begins with."""
    cell = WriteOnlyCell(ws, value=neutralise(text))
    cell.data_type = "s"
    return cell


def _number_format(column: str, series: pd.Series) -> str | None:
    if column.lower().startswith("percentage") or "percentage" in column.lower():
        return PCT_FORMAT
    if pd.api.types.is_integer_dtype(series):
        return INT_FORMAT
    if pd.api.types.is_float_dtype(series):
        return DEC_FORMAT
    if pd.api.types.is_datetime64_any_dtype(series):
        return DATE_FORMAT
    return None


def _widths(df: pd.DataFrame) -> list[float]:
    out = []
    for col in df.columns:
        sample = df[col].head(500).map(lambda v: "" if v is None else str(v))
        longest = max([len(s) for s in sample] or [0])
        header = min(len(str(col)), 28)
        out.append(float(min(max(longest + 2, header + 2, 9), 60)))
    return out


def write_workbook(tables: dict[str, pd.DataFrame], path: Path, *, title: str | None = None) -> Path:
    """Write ``tables`` to ``path`` (.xlsx); return the path."""
    wb = Workbook(write_only=True)
    for name, df in tables.items():
        if name in NOT_IN_WORKBOOK:
            continue
        ws = wb.create_sheet(sheet_title(name))
        for i, width in enumerate(_widths(df), start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = "A2"
        if len(df.columns):
            ws.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{max(len(df), 1) + 1}"
        header = []
        for col in df.columns:
            cell = _text_cell(ws, str(col))
            cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGN
            header.append(cell)
        ws.append(header)
        formats = [_number_format(str(c), df[c]) for c in df.columns]
        for row in df.itertuples(index=False, name=None):
            out = []
            for value, fmt in zip(row, formats, strict=True):
                v = _cell_value(value)
                if fmt and v is not None and not isinstance(v, str):
                    cell = WriteOnlyCell(ws, value=v)
                    cell.number_format = DATE_FORMAT if isinstance(v, date) else fmt
                    out.append(cell)
                elif isinstance(v, date):
                    cell = WriteOnlyCell(ws)
                    cell.value = v  # the value setter takes a date; the factory's parameter type omits it
                    cell.number_format = DATE_FORMAT
                    out.append(cell)
                elif isinstance(v, str):
                    out.append(_text_cell(ws, v))
                else:
                    out.append(v)
            ws.append(out)
    if title:
        wb.properties.title = title
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
