"""Cells that a spreadsheet could run: OWASP's CSV-injection rule, in one place for every CSV and XLSX we write
(the reports, and intake's rejects.csv, which quotes source values and names).

A text cell beginning with ``=``, ``+``, ``-``, ``@``, tab or carriage return is read by Excel, LibreOffice and
Google Sheets as a formula (``=HYPERLINK(...)``, ``@SUM(A1:A2)``, DDE through ``-cmd|``), and requester-controlled
text reaches the reports (subjects, names, references). Such cells get a leading single quote, as OWASP
("CSV Injection") recommends, so they are shown as the text they are; numbers and dates are not text and are left
alone. The XLSX writer also stores every text cell with the string type, never a formula.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np
import pandas as pd

#: OWASP CSV Injection: characters that make a spreadsheet read a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """``'=1+2'`` -> ``"'=1+2"``; any other text unchanged."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells are safe to open in a spreadsheet (only object columns are walked)."""
    out = None
    for col in df.columns:
        s = df[col]
        if s.dtype != object and not pd.api.types.is_string_dtype(s):
            continue
        values = s.to_numpy(object)
        is_text = np.fromiter(map(isinstance, values, repeat(str)), dtype=bool, count=len(values))
        if not is_text.any():
            continue
        text = values[is_text]
        risky = np.fromiter(map(str.startswith, text, repeat(FORMULA_TRIGGERS)), dtype=bool, count=len(text))
        if not risky.any():
            continue
        if out is None:
            out = df.copy()
        fixed = values.copy()
        pos = np.flatnonzero(is_text)[risky]
        fixed[pos] = ["'" + v for v in values[pos]]
        out[col] = pd.Series(fixed, index=df.index, dtype=object)
    return df if out is None else out
