"""Control characters in source cells: the one rule, applied before any other check (docs/intake.md).

* NUL, the other C0 controls, DEL and the C1 controls (U+0080-U+009F) are removed from every cell: they are
  invisible, some systems truncate at a NUL, Dataverse and XML refuse them, and none carries meaning in a request.
* Tab and line breaks stay only where the field is multi-line text (the request text, the postal address); there,
  CRLF and a bare CR become LF. In every single-line field a tab or line break becomes a space.
* The reference is a key: a reference holding any control character (tab and line breaks included) is refused
  with a reject line rather than silently changed, because the changed value could be another request's reference.

A column is scanned as one joined string first (one C-level pass), so clean columns, the normal case, cost almost
nothing on a million rows; only columns that hold a control character are cleaned cell by cell.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Everything the rule touches: C0 (tab, LF, CR included), DEL, C1.
ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Removed everywhere.
_REMOVED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: What a multi-line field needs changed (tab and LF are kept there, so request text with paragraphs is no work).
_MULTILINE_TODO = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BREAKS = re.compile(r"\r\n?")
_SPACING = re.compile(r"[\t\n\r]")

#: Case fields whose text may keep tabs and line breaks.
MULTILINE_FIELDS = frozenset({"request_text", "requester_address"})


def _has(pattern: re.Pattern[str], cells: np.ndarray) -> bool:
    try:
        return pattern.search(" ".join(cells)) is not None
    except TypeError:  # a non-text cell (XLSX numbers are text by now, but be careful)
        return any(isinstance(c, str) and pattern.search(c) for c in cells)


def clean_multiline(value: str) -> str:
    return _BREAKS.sub("\n", _REMOVED.sub("", value))


def clean_single_line(value: str) -> str:
    return _SPACING.sub(" ", _REMOVED.sub("", value))


def clean_column(s: pd.Series, multiline: bool) -> pd.Series:
    """The column with the rule applied (the same object when nothing needed cleaning)."""
    todo = _MULTILINE_TODO if multiline else ANY_CONTROL
    cells = s.fillna("").to_numpy(object)
    if not _has(todo, cells):
        return s
    clean = clean_multiline if multiline else clean_single_line
    values = s.to_numpy(object).copy()
    for i in np.flatnonzero([isinstance(c, str) and todo.search(c) is not None for c in values]):
        values[i] = clean(values[i])
    return pd.Series(values, index=s.index, dtype=object)


def control_mask(s: pd.Series) -> np.ndarray:
    """Rows whose cell holds any control character (for the reference, which is refused rather than changed)."""
    cells = s.fillna("").to_numpy(object)
    if not _has(ANY_CONTROL, cells):
        return np.zeros(len(cells), dtype=bool)
    return np.array([isinstance(c, str) and ANY_CONTROL.search(c) is not None for c in cells], dtype=bool)
