"""Dates in source registers: text, ISO 8601 with or without an offset, the mapping's formats and Excel serials.

Registers repeat the same few thousand dates across a million rows, so every string is parsed once per distinct value
(:func:`pd.factorize`) and mapped back; wall times without an offset are read in the source's time zone.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from connector.intake.source_mapping import SourceMapping

_OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")
_ISO_START = re.compile(r"^\d{4}-\d\d-\d\d")
_SERIAL = re.compile(r"^\d{4,5}(?:\.\d+)?$")
_NAT = np.datetime64("NaT", "ns")


def _take(values: np.ndarray, codes: np.ndarray, fill: np.datetime64 | np.timedelta64) -> np.ndarray:
    """values[codes] with ``fill`` where the code is -1 (missing)."""
    out = np.empty(len(codes), dtype=values.dtype)
    out[:] = fill
    ok = codes >= 0
    out[ok] = values[codes[ok]]
    return out


def _parse_uniques(u: pd.Series, mapping: SourceMapping) -> tuple[np.ndarray, np.ndarray]:
    """Distinct date strings -> (naive local wall time, UTC instant) as datetime64[ns]; one of the two is NaT."""
    opts = mapping.source
    n = len(u)
    naive = np.full(n, _NAT, dtype="datetime64[ns]")
    utc = np.full(n, _NAT, dtype="datetime64[ns]")
    if not n:
        return naive, utc
    has_offset = u.str.contains(_OFFSET, na=False).to_numpy(bool)
    if has_offset.any():
        parsed = pd.to_datetime(u[has_offset], format="ISO8601", utc=True, errors="coerce")
        utc[has_offset] = parsed.dt.tz_localize(None).to_numpy("datetime64[ns]")
    todo = ~has_offset
    iso = todo & u.str.contains(_ISO_START, na=False).to_numpy(bool)
    if iso.any():
        naive[iso] = pd.to_datetime(u[iso], format="ISO8601", errors="coerce").to_numpy("datetime64[ns]")
        todo &= np.isnat(naive)
    for fmt in opts.date_formats:
        if not todo.any():
            break
        naive[np.flatnonzero(todo)] = pd.to_datetime(u[todo], format=fmt, errors="coerce").to_numpy("datetime64[ns]")
        todo &= np.isnat(naive)
    if opts.excel_serial_dates and todo.any():
        serial = todo & u.str.fullmatch(_SERIAL, na=False).to_numpy(bool)
        if serial.any():
            days = u[serial].astype(float).to_numpy()
            in_range = (days >= 20000) & (days <= 80000)  # 1954..2119: anything else is not a date
            idx = np.flatnonzero(serial)[in_range]
            ns = np.round((days[in_range] - 25569.0) * 86400.0) * 1e9  # 25569 = 1970-01-01 as an Excel serial
            naive[idx] = ns.astype("int64").astype("datetime64[ns]")
    return naive, utc


def parse_datetimes(
    s: pd.Series, mapping: SourceMapping, time: pd.Series | None = None
) -> tuple[pd.Series, np.ndarray]:
    """Text -> UTC timestamps (NaT where unparseable) and a mask of unreadable times.

    Accepts ISO 8601 with or without offset, the mapping's formats and Excel serial numbers; ``time`` (a separate
    "Time Received" column) is added to date-only values. Values without an offset are wall time in
    ``source.timezone`` (an autumn 01:30 that happens twice is read as the first, BST one). Parsing happens once
    per distinct string, so a register's thousands of repeated dates cost almost nothing.
    """
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    u = pd.Series(np.asarray(uniques, dtype=object), dtype=object).str.strip()
    naive_u, utc_u = _parse_uniques(u, mapping)
    naive = _take(naive_u, codes, _NAT)
    utc = _take(utc_u, codes, _NAT)
    bad_time = np.zeros(len(s), dtype=bool)
    if time is not None and time.notna().any():
        tcodes, tuniques = pd.factorize(time, use_na_sentinel=True)
        tu = pd.Series(np.asarray(tuniques, dtype=object), dtype=object).str.strip().str.replace(".", ":", regex=False)
        tu = tu.where(tu.str.count(":") != 1, tu + ":00")
        td_parsed = pd.to_timedelta(tu, errors="coerce")
        in_day = (td_parsed >= pd.Timedelta(0)) & (td_parsed < pd.Timedelta(days=1))
        td_u = td_parsed.where(in_day).to_numpy("timedelta64[ns]")
        td = _take(td_u, tcodes, np.timedelta64("NaT", "ns"))
        bad_time = (tcodes >= 0) & np.isnat(td)
        add = ~np.isnat(naive) & ~np.isnat(td) & (naive == naive.astype("datetime64[D]"))
        naive[add] = naive[add] + td[add]
    local = pd.DatetimeIndex(naive).tz_localize(
        mapping.source.timezone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward"
    )
    local_utc = local.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")
    combined = np.where(np.isnat(utc), local_utc, utc)
    return pd.Series(combined, dtype="datetime64[ns]").dt.tz_localize("UTC"), bad_time


def date_formats_hint(mapping: SourceMapping) -> str:
    forms = ["ISO 8601", *mapping.source.date_formats]
    if mapping.source.excel_serial_dates:
        forms.append("Excel serial")
    return ", ".join(forms)
