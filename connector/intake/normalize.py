"""Vectorized normalisation: raw text cells -> case columns + one reject line per bad row.

A million-row register must normalise in a few times what pandas needs to read it, so nothing here loops
over rows in Python. Low-cardinality columns (regime, department, stage, dates without a time) are
normalised once per distinct value through :func:`pd.factorize`; wide text columns get one vectorized
pass each. ``FoiCase`` objects are built afterwards, only for the rows a caller asks for (:func:`iter_cases`).

:func:`normalize_frame` runs one function per field group (requester, enumerations, text, regime, dates, stage,
assignment, exemptions, WhatDoTheyKnow, reference, duplicates, deadlines), each adding its rejects to one
``_Problems``. What a request is about lives elsewhere: regime detection in :mod:`connector.intake.classify`, the
registers' words for the vocabularies in ``synonyms.toml``, date parsing in :mod:`connector.intake.dates`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import operator
import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import repeat
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from connector import model
from connector.intake.classify import detect_regime
from connector.intake.controls import MULTILINE_FIELDS, clean_column, control_mask
from connector.intake.dates import date_formats_hint, parse_datetimes
from connector.intake.rejects import Reject
from connector.intake.source_mapping import ENUM_FIELDS, SourceMapping, fold, load_synonyms
from connector.intake.sources import FILE, ROW, WDTK_ADDRESS, RawSource
from connector.model import EXEMPTION_PATTERN, Channel, FoiCase, Regime, RequesterType, Stage

log = logging.getLogger(__name__)

#: Normalised frame columns (the model's vocabulary).
CASE_COLUMNS = model.CASE_COLUMNS
SOURCE = "_source"
AUTHORITIES = "_authorities"
DEADLINE_COLUMNS = ("day0", "due", "extended_due")

#: Fast path only: every address this accepts, model.normalise_email accepts too (tests/test_email_policy.py).
_EMAIL = model.PLAIN_EMAIL
_ANGLE_ADDRESS = re.compile(r"<([^<>]+)>")
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
_EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")


@dataclass
class NormalizedFrame:
    """Valid rows as case columns (plus ``_row``, ``_file``, ``_source`` and deadline columns) and the rejects."""

    frame: pd.DataFrame
    rejects: list[Reject]
    rows_read: int
    blank_rows: int


class _Problems:
    """Per-row problems collected column by column; one reject line per row at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.parts: list[tuple[np.ndarray, str, np.ndarray]] = []
        self.bad = np.zeros(n, dtype=bool)
        self._by_field: dict[str, np.ndarray] = {}

    def add(self, mask: np.ndarray | pd.Series, field: str, reason: str | pd.Series | np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.bad_field(field)
        if not mask.any():
            return
        pos = np.flatnonzero(mask)
        if isinstance(reason, str):
            reasons = np.full(len(pos), reason, dtype=object)
        else:
            reasons = np.asarray(reason, dtype=object)[pos]
        self.parts.append((pos, field, reasons))
        self.bad[pos] = True
        self._by_field.setdefault(field, np.zeros(self.n, dtype=bool))[pos] = True

    def bad_field(self, field: str) -> np.ndarray:
        """Rows already rejected for this field (a second check on the same field adds nothing)."""
        found = self._by_field.get(field)
        return found if found is not None else np.zeros(self.n, dtype=bool)

    def rejects(self, rows: np.ndarray, sources: np.ndarray) -> list[Reject]:
        if not self.parts:
            return []
        pos = np.concatenate([p for p, _, _ in self.parts])
        fields = np.concatenate([np.full(len(p), f, dtype=object) for p, f, _ in self.parts])
        reasons = np.concatenate([r for _, _, r in self.parts])
        order = np.argsort(pos, kind="stable")  # problems of one row stay in the order they were found
        pos, fields, reasons = pos[order], fields[order], reasons[order]
        starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
        ends = np.r_[starts[1:], len(pos)]
        out = []
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            p = pos[a]
            if b - a == 1:  # the usual case: one problem in the row
                field, reason = fields[a], reasons[a]
            else:
                field, reason = ", ".join(fields[a:b]), " | ".join(reasons[a:b])
            out.append(Reject(source=str(sources[p]), row=int(rows[p]), field=field, reason=reason))
        return out


# ------------------------------------------------------------------------------------------ helpers


def _nan_series(n: int) -> pd.Series:
    return pd.Series(np.full(n, np.nan, dtype=object), dtype=object)


def _obj(s: pd.Series) -> pd.Series:
    return s.astype(object).reset_index(drop=True)


def _strip_or_nan(value: Any) -> Any:
    if not isinstance(value, str):
        return np.nan
    value = value.strip()
    return value if value else np.nan


def _mostly_repeated(s: pd.Series) -> bool:
    """Guess from a sample whether a column repeats values enough to be worth working per distinct value."""
    sample = s.iloc[: min(len(s), 2000)]
    return len(sample) > 0 and sample.nunique(dropna=True) * 2 <= len(sample)


def _clean(s: pd.Series) -> pd.Series:
    """Trim; empty becomes missing. Columns with repeated values (most of a register) work per distinct value."""
    s = _obj(s)
    if _mostly_repeated(s):
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        mapped = np.array([_strip_or_nan(u) for u in uniques] + [np.nan], dtype=object)
        return pd.Series(mapped[codes], dtype=object)
    try:  # C-level passes (str methods through map) instead of a Python-level loop per cell
        stripped = np.array(list(map(str.strip, s.fillna("").to_numpy(object))), dtype=object)
    except TypeError:  # a non-text cell: take the slow, careful path
        return pd.Series([_strip_or_nan(v) for v in s.to_numpy(object)], dtype=object)
    stripped[~np.fromiter(map(bool, stripped), dtype=bool, count=len(stripped))] = np.nan
    return pd.Series(stripped, dtype=object)


def _mapped_or_collapsed(table: dict[str, str], value: str) -> str:
    """The value map's entry for ``value`` (folded), else the value with its whitespace collapsed."""
    return table.get(fold(value), _collapse(value))


def _map_uniques(s: pd.Series, func: Callable[[str], Any]) -> pd.Series:
    """Apply ``func`` once per distinct value (a register has few regimes, departments, stages, dates)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[: len(uniques)] = [func(u) for u in uniques]
    mapped[: len(uniques)][mapped[: len(uniques)] == ""] = np.nan  # a cell of spaces is an empty cell
    mapped[-1] = np.nan
    return pd.Series(mapped[codes], dtype=object)


def _join(raw: pd.DataFrame, cols: list[str], sep: str) -> pd.Series:
    """Several source columns feeding one field (first name + surname, address lines), joined without empty parts."""
    if len(cols) == 1:
        return _clean(raw[cols[0]])
    parts = [part for part in (_clean(raw[c]) for c in cols) if part.notna().any()]
    if not parts:
        return _nan_series(len(raw))
    if len(parts) == 1:
        return parts[0]
    out = parts[0].fillna("")
    for part in parts[1:]:
        out = out.str.cat(part.fillna(""), sep=sep)
    out = out.str.strip(sep + " ")
    return _obj(out).mask(out.eq(""))


def _tidy_email(value: Any) -> Any:
    """'Jo <Jo@Example.ORG>', 'mailto:jo@example.org ' -> 'jo@example.org'."""
    if not isinstance(value, str):
        return np.nan
    if "<" in value:
        match = _ANGLE_ADDRESS.search(value)
        value = match.group(1) if match else value
    value = value.strip().removeprefix("mailto:").lower()
    return value or np.nan


def _emails(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Tidy and check a column of addresses: (lower-cased addresses or NaN, mask of invalid ones).

    Every step is a C-level ``map`` of a str method or compiled regex over the column; only the rare
    ``Name <address>`` and ``mailto:`` cells go through Python code.
    """
    try:
        cells = list(map(str.lower, map(str.strip, s.fillna("").to_numpy(object))))
    except TypeError:
        cells = [v.strip().lower() if isinstance(v, str) else "" for v in s.to_numpy(object)]
    n = len(cells)
    odd = np.fromiter(map(operator.contains, cells, repeat("<")), dtype=bool, count=n)
    odd |= np.fromiter(map(str.startswith, cells, repeat("mailto:")), dtype=bool, count=n)
    for i in np.flatnonzero(odd):
        cells[i] = _tidy_email(cells[i]) if isinstance(cells[i], str) else ""
        cells[i] = cells[i] if isinstance(cells[i], str) else ""
    present = np.fromiter(map(bool, cells), dtype=bool, count=n)
    invalid = np.fromiter(map(operator.is_, map(_EMAIL.fullmatch, cells), repeat(None)), dtype=bool, count=n)
    # The regex is a fast path for plain ASCII addresses; anything it refuses gets the model's policy, so intake
    # and FoiCase accept exactly the same addresses (e.g. internationalised ones, RFC 6531).
    for i in np.flatnonzero(invalid):
        if cells[i] and model.is_valid_email(cells[i]):
            invalid[i] = False
    values = np.array(cells, dtype=object)
    values[~present] = np.nan
    return pd.Series(values, dtype=object), invalid & present


def _reasons(mask: np.ndarray, values: pd.Series, template: str) -> np.ndarray:
    """Per-row reasons built only for the flagged rows: ``template`` gets ``{v}`` (value, cut to 40 characters)."""
    out = np.full(len(mask), "", dtype=object)
    pos = np.flatnonzero(mask)
    cells = values.to_numpy(object)[pos]
    out[pos] = [
        template.format(
            v=str(c).strip()[:40] if isinstance(c, str) else c.strftime("%Y-%m-%d") if isinstance(c, date) else c
        )
        for c in cells
    ]
    return out


def _values(s: pd.Series) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The column's values for the output frame (tz-aware timestamps and nullable ints keep their dtype)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype | pd.Int64Dtype):
        kept: pd.api.extensions.ExtensionArray = s.array
        return kept
    return s.to_numpy(object)


def _too_long(s: pd.Series, limit: int) -> np.ndarray:
    """Rows whose text exceeds the CRM column's length (a longer value would fail the push, not intake)."""
    if _mostly_repeated(s):
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        long_u = np.array([len(u) > limit for u in uniques] + [False], dtype=bool)
        return long_u[codes]
    filled = s.fillna("").to_numpy(object)
    return np.fromiter(map(len, filled), dtype=np.int64, count=len(filled)) > limit


def _collapse(value: str) -> str:
    return " ".join(value.split())


def _tidy_name(value: str) -> str:
    """Collapse spaces; fix SHOUTED or all-lower names ("JANE O'NEIL-SMITH" -> "Jane O'Neil-Smith")."""
    value = _collapse(value)
    if value.isupper() or value.islower():
        value = re.sub(r"[A-Za-z]+", lambda m: m.group(0).capitalize(), value.lower())
        value = re.sub(r"\bMc([a-z])", lambda m: "Mc" + m.group(1).upper(), value)
    return value


def normalise_exemption(code: str) -> str | None:
    """'Section 40(2)', 'S.40 (2)', '40(2)', 'Regulation 12(5)(b)' -> 's40(2)', 'reg12(5)(b)'; None if not a code."""
    c = code.strip().lower().replace(" ", "").replace(".", "")
    c = re.sub(r"^(section|sec|s)", "s", c)
    c = re.sub(r"^(regulation|regs?|r)(?=\d)", "reg", c)
    if re.match(r"^\d", c):
        c = "s" + c
    if c.startswith("s") and not c.startswith("s("):
        c = re.sub(r"^s(\d{1,2})([a-z])(?=\(|$)", lambda m: f"s{m.group(1)}{m.group(2).upper()}", c)
    return c if EXEMPTION_PATTERN.match(c) else None


def _enum_mapper(field: str, mapping: SourceMapping) -> Callable[[str], str | None]:
    """Source word -> model value: the council's own value map first, then the model's values, then the shipped
    synonyms (connector/intake/synonyms.toml)."""
    table = mapping.values.lookup(field)
    synonyms = load_synonyms().lookup(field)
    choices = {fold(m.value): m.value for m in ENUM_FIELDS[field]} | {
        fold(m.value.replace("_", " ")): m.value for m in ENUM_FIELDS[field]
    }

    def lookup(value: str) -> str | None:
        key = fold(value)
        return table.get(key) or choices.get(key) or synonyms.get(key)

    return lookup


def stable_reference(prefix: str, source_name: str, key: str) -> str:
    """A reference that is the same on every run for the same message or form (so re-runs do not duplicate)."""
    digest = hashlib.sha1(f"{source_name}\x1f{key}".encode(), usedforsecurity=False).hexdigest()[:10].upper()
    return f"{prefix}{digest}"


# ------------------------------------------------------------------------------------------- normalise


def apply_control_rule(df: pd.DataFrame, cols: dict[str, list[str]]) -> tuple[pd.DataFrame, np.ndarray]:
    """The control-character rule of :mod:`connector.intake.controls` on every mapped column; -> (frame, rows
    whose reference holds a control character)."""
    bad_reference = np.zeros(len(df), dtype=bool)
    for field, sources in cols.items():
        for col in sources:
            if col not in df.columns:
                continue
            if field == "reference":
                bad_reference |= control_mask(df[col])
            else:
                df[col] = clean_column(df[col], field in MULTILINE_FIELDS)
    return df, bad_reference


class DeadlineFrameEngine(Protocol):
    """What normalisation needs of the deadline engine (connector.deadlines.DeadlineEngine): its vectorised path."""

    def compute_frame(self, df: pd.DataFrame, *, as_of: date | None = None) -> pd.DataFrame: ...


@dataclass
class _Rows:
    """One source's raw cells, its mapping and the problems found so far: what every field group reads and adds to."""

    raw: RawSource
    df: pd.DataFrame
    mapping: SourceMapping
    cols: dict[str, list[str]]
    problems: _Problems

    @property
    def n(self) -> int:
        return len(self.df)

    @property
    def origin(self) -> str:
        return self.mapping.origin

    def get(self, field: str, sep: str = " ", raw_cells: bool = False) -> pd.Series:
        """The cleaned source column(s) for a case field; ``raw_cells`` skips trimming (values mapped per distinct
        value trim there anyway, so a million cells are not walked twice)."""
        if field not in self.cols:
            return _nan_series(self.n)
        if raw_cells and len(self.cols[field]) == 1:
            return _obj(self.df[self.cols[field][0]])
        return _join(self.df, self.cols[field], sep)

    def where(self, field: str) -> str:
        """Where a reject's fix goes: the mapped column(s), or the mapping key to add."""
        if field in self.cols:
            return "column " + " + ".join(f"'{c}'" for c in self.cols[field])
        return f"a column for '{field}' under [columns] in {self.origin}"


def _requester(rows: _Rows) -> dict[str, pd.Series]:
    """Name, email, address, postcode and organisation, tidied; only malformed values are rejected.

    No name, a placeholder name ('anonymous') or no address for correspondence is not a reject: whether it matters
    depends on the regime (FOIA/FOISA s.8 need them; EIR/EISR and SAR do not), so triage decides
    (connector/intake/triage.py) and an invalid request still becomes a case with an advice-and-assistance reply.
    """
    problems = rows.problems
    name = _map_uniques(rows.get("requester_name", raw_cells=True), _tidy_name)
    problems.add(
        _too_long(name, 160),
        "requester_name",
        "requester name is longer than 160 characters; check the column mapping",
    )
    email_ = rows.get("requester_email", raw_cells=True)
    if email_.notna().any():
        email_, bad_email = _emails(email_)
        problems.add(
            bad_email,
            "requester_email",
            "requester email is not a valid address; correct it, or leave it empty if a postal address is given",
        )
    address = rows.get("requester_address", ", ")
    postcode = rows.get("requester_postcode")
    if postcode.notna().any():
        norm_pc = _map_uniques(postcode, _uk_postcode)
        problems.add(
            (postcode.notna() & norm_pc.isna()).to_numpy(bool),
            "requester_postcode",
            "requester postcode is not a UK postcode; write it like 'SW1A 1AA' or leave it empty",
        )
        postcode = norm_pc
    organisation = rows.get("requester_organisation")
    organisation = _map_uniques(organisation, _collapse) if organisation.notna().any() else organisation
    problems.add(_too_long(organisation, 160), "requester_organisation", "organisation is over 160 characters")
    return {
        "requester_name": name,
        "requester_email": email_,
        "requester_address": address,
        "requester_postcode": postcode,
        "requester_organisation": organisation,
    }


def _uk_postcode(value: str) -> str | None:
    """'sw1a1aa' -> 'SW1A 1AA'; None when it is not shaped like a UK postcode."""
    compact = re.sub(r"\s+", "", value.upper())
    m = _POSTCODE.match(compact)
    return f"{m.group(1)} {m.group(2)}" if m else None


def _enum_column(rows: _Rows, field: str) -> pd.Series:
    """An enumerated field through the mapping's value map, the model's own values and the shipped synonyms, once
    per distinct value; an unknown word is rejected with the choices, and an empty cell takes the mapping's
    default."""
    values = rows.get(field, raw_cells=True)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques):
        lookup = _enum_mapper(field, rows.mapping)
        blank = np.array([not str(u).strip() for u in uniques] + [True], dtype=bool)
        table = np.array([lookup(u) or np.nan for u in uniques] + [np.nan], dtype=object)
        mapped = pd.Series(table[codes], dtype=object)
        unknown = ~blank[codes] & pd.isna(table)[codes]
        if unknown.any():
            choices = ", ".join(m.value for m in ENUM_FIELDS[field])
            template = (
                f"{field.replace('_', ' ')} '{{v}}' is not known; "
                f"add it under [values.{field}] in {rows.origin} (one of {choices})"
            )
            rows.problems.add(unknown, field, _reasons(unknown, values, template.replace("{origin}", rows.origin)))
        values = mapped
    default = rows.mapping.defaults.value(field)
    if default is not None:
        values = values.fillna(default)
    return values


def _text(rows: _Rows) -> tuple[pd.Series, pd.Series]:
    """(subject, request text): a request must say what it asks for, so missing text falls back to the subject,
    and a missing subject is the text's first sentence (the CRM's title column is never empty)."""
    problems = rows.problems
    text = rows.get("request_text", "\n")
    subject = _map_uniques(rows.get("subject", raw_cells=True), _collapse)
    text = text.fillna(subject)
    problems.add(
        text.isna().to_numpy(bool),
        "request_text",
        f"request text is missing; fill {rows.where('request_text')} (what information is asked for)",
    )
    problems.add(
        _too_long(text, 100_000),
        "request_text",
        "request text is over 100,000 characters; attach the document in the CRM instead",
    )
    no_subject = subject.isna() & text.notna()
    if no_subject.any():
        first = text[no_subject].str.split(r"(?<=[.?!])\s|\n", n=1, regex=True).str[0].str.slice(0, 80)
        subject = subject.mask(no_subject, first.map(_collapse))
    long_subject = pd.Series(_too_long(subject, 200))
    if long_subject.any():
        subject = subject.mask(long_subject, subject[long_subject].str.slice(0, 199) + "…")
    return subject, text


def _regime(rows: _Rows, regime: pd.Series, subject: pd.Series, text: pd.Series, nation: str) -> pd.Series:
    """The mapped regime, then the wording (classify.detect_regime, as ``source.regime_detection`` says), then
    FOIA; a Scottish council answers under FOISA / EISR, not the UK Acts."""
    detection = rows.mapping.source.regime_detection
    if detection != "off":
        need = regime.isna() if detection == "missing" else text.notna()
        if need.any():
            subjects = subject[need].to_numpy(object)
            texts = text[need].to_numpy(object)
            found = [
                detect_regime(f"{a if a.__class__ is str else ''}\n{b if b.__class__ is str else ''}")
                for a, b in zip(subjects, texts, strict=True)
            ]
            detected = pd.Series([f if f else np.nan for f in found], index=regime.index[need], dtype=object)
            if detection == "missing":
                detected = detected.fillna(Regime.FOIA.value)
            regime = regime.mask(need & detected.reindex(regime.index).notna(), detected.reindex(regime.index))
    regime = regime.fillna(Regime.FOIA.value)
    if nation == "scotland":
        regime = regime.replace({Regime.FOIA.value: Regime.FOISA.value, Regime.EIR.value: Regime.EISR.value})
    return regime


def _received(rows: _Rows, now: datetime) -> pd.Series:
    """The day the clock starts from, so a missing, unreadable, future or pre-2000 date is a reject that says how to
    fix it."""
    problems, mapping = rows.problems, rows.mapping
    received_raw = rows.get("received_at", raw_cells=True)
    time_part = rows.get("received_time", raw_cells=True) if "received_time" in rows.cols else None
    has_received = received_raw.notna().to_numpy(bool)
    problems.add(
        ~has_received,
        "received_at",
        f"received date is missing; fill {rows.where('received_at')} (the day the request arrived)",
    )
    received, bad_time = parse_datetimes(received_raw, mapping, time_part)
    problems.add(
        bad_time & has_received,
        "received_time",
        f"received time is not a time like 14:30; fix {rows.where('received_time')} or leave it empty",
    )
    unparsed = has_received & received.isna().to_numpy(bool)
    if unparsed.any():
        hint = date_formats_hint(mapping).replace("{", "{{").replace("}", "}}")
        problems.add(
            unparsed,
            "received_at",
            _reasons(
                unparsed,
                received_raw,
                "received date '{v}' is not a date in an accepted form ("
                + hint
                + "); fix the cell or add its format to source.date_formats in "
                + rows.origin.replace("{", "{{").replace("}", "}}"),
            ),
        )
    future = (received > pd.Timestamp(now + timedelta(days=1))).to_numpy(bool)
    if future.any():
        problems.add(
            future,
            "received_at",
            _reasons(future, received, "received date {v} is in the future; check the day/month order and the year"),
        )
    ancient = (received < _EARLIEST).to_numpy(bool)
    if ancient.any():
        problems.add(
            ancient, "received_at", _reasons(ancient, received, "received date {v} is before 2000; check the year")
        )
    return received


def _responded(rows: _Rows, received: pd.Series) -> pd.Series:
    """The response date when the register has one; it cannot come before the request did."""
    if "responded_at" not in rows.cols:
        return _nan_series(rows.n)
    responded_raw = rows.get("responded_at", raw_cells=True)
    responded, _ = parse_datetimes(responded_raw, rows.mapping)
    rows.problems.add(
        (responded_raw.notna() & responded.isna()).to_numpy(bool),
        "responded_at",
        f"responded date is not a date in an accepted form ({date_formats_hint(rows.mapping)}); fix the cell",
    )
    rows.problems.add(
        (responded < received).to_numpy(bool),
        "responded_at",
        "responded date is before the received date; check the two dates",
    )
    return responded


def _stage(rows: _Rows, stage: pd.Series, responded: pd.Series) -> pd.Series:
    """A register without a status but with a response date has answered the request; otherwise it is new."""
    if "responded_at" in rows.cols and ("stage" not in rows.cols or stage.isna().any()):
        stage = stage.mask(stage.isna() & responded.notna(), Stage.RESPONSE_SENT.value)
    return stage.fillna(Stage.RECEIVED.value)


def _assignment(rows: _Rows) -> dict[str, pd.Series]:
    """Service area and team through the value maps and defaults (routing may fill them later), and the officer as
    written; each must fit its CRM column."""
    out: dict[str, pd.Series] = {}
    for field in ("service_area", "assigned_team"):
        values = rows.get(field, raw_cells=True)
        if values.notna().any():
            table = rows.mapping.values.lookup(field)
            values = _map_uniques(values, functools.partial(_mapped_or_collapsed, table))
        default = rows.mapping.defaults.value(field)
        if default:
            values = values.fillna(default)
        rows.problems.add(_too_long(values, 100), field, f"{field} is over 100 characters; shorten it in the source")
        out[field] = values
    officer = rows.get("assigned_officer")
    rows.problems.add(
        _too_long(officer, 100), "assigned_officer", "officer is over 100 characters; shorten it in the source"
    )
    out["assigned_officer"] = officer
    return out


def _exemption_codes(value: str) -> str | None:
    """'s40(2) and s43' -> 's40(2);s43'; None when any part is not an exemption code."""
    parts = [p for p in re.split(r"[,;/&|]|\band\b", value) if p.strip()]
    codes = [normalise_exemption(p) for p in parts]
    return None if any(c is None for c in codes) else ";".join(dict.fromkeys(c for c in codes if c is not None))


def _exemptions(rows: _Rows) -> pd.Series:
    """Exemption cells as canonical codes joined by ';' (the reports count them), rejected when unreadable."""
    exemptions = rows.get("exemptions")
    if not exemptions.notna().any():
        return exemptions
    norm = _map_uniques(exemptions, _exemption_codes)
    bad_codes = (exemptions.notna() & norm.isna()).to_numpy(bool)
    rows.problems.add(
        bad_codes,
        "exemptions",
        _reasons(
            bad_codes,
            exemptions,
            "exemptions '{v}' are not exemption codes; write FOIA sections like 's40(2)' and EIR regulations "
            "like 'reg12(5)(b)', separated by ';'",
        ),
    )
    return norm


def _whatdotheyknow(rows: _Rows, email_: pd.Series, channel: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(WhatDoTheyKnow request id, channel): a WDTK reply address carries the request id and fixes the channel;
    a request with neither a channel nor a WDTK id came by email."""
    wdtk = rows.get("wdtk_request_id")
    wdtk_num = pd.to_numeric(wdtk, errors="coerce")
    rows.problems.add(
        (wdtk.notna() & wdtk_num.isna()).to_numpy(bool),
        "wdtk_request_id",
        "WhatDoTheyKnow request id is not a number",
    )
    if email_.notna().any():
        is_wdtk = pd.Series(
            np.fromiter(
                map(str.endswith, email_.fillna("").to_numpy(object), repeat("@whatdotheyknow.com")),
                dtype=bool,
                count=rows.n,
            )
        )
        if is_wdtk.any():
            from_address = email_[is_wdtk].str.extract(WDTK_ADDRESS, expand=True)[0]
            wdtk_num = wdtk_num.mask(is_wdtk & wdtk_num.isna(), pd.to_numeric(from_address, errors="coerce"))
            channel = channel.mask(is_wdtk, Channel.WHATDOTHEYKNOW.value)
    channel = channel.mask(channel.isna() & wdtk_num.notna(), Channel.WHATDOTHEYKNOW.value).fillna(Channel.EMAIL.value)
    return wdtk_num.astype("Int64"), channel


def _sources(rows: _Rows) -> tuple[pd.Series, np.ndarray]:
    """(file of each row, 'source/file' label of each row): where a reject points a person to."""
    files = rows.df[FILE].astype(object) if FILE in rows.df.columns else _nan_series(rows.n)
    if files.notna().any():
        return files, (rows.raw.name + "/" + files).fillna(rows.raw.name).to_numpy(object)
    return files, np.full(rows.n, rows.raw.name, dtype=object)


def _reference(rows: _Rows, source_id: pd.Series, files: pd.Series, control_in_reference: np.ndarray) -> pd.Series:
    """The case's key in the CRM: the register's reference (prefixed, upper-cased as the mapping says), or a stable
    one made from the source id; it must be present, printable and fit the CRM's key column."""
    opts = rows.mapping.source
    reference = rows.get("reference")
    if opts.generate_reference:
        missing = reference.isna()
        if missing.any():
            row_labels = rows.df[ROW].astype(str).reset_index(drop=True)
            keys = source_id.fillna(files.fillna("") + ":" + row_labels)
            generated = keys[missing].map(lambda k: stable_reference(opts.reference_prefix, rows.raw.name, k))
            reference = reference.mask(missing, generated)
    elif opts.reference_prefix:
        reference = opts.reference_prefix + reference
    if opts.reference_case == "upper":
        present = reference.notna().to_numpy(bool)
        upper = reference.to_numpy(object).copy()
        upper[present] = list(map(str.upper, upper[present]))
        reference = pd.Series(upper, dtype=object)
    rows.problems.add(
        reference.isna().to_numpy(bool),
        "reference",
        f"reference is missing; fill {rows.where('reference')} or set generate_reference = true in {rows.origin}",
    )
    rows.problems.add(
        control_in_reference,
        "reference",
        "reference contains a control character (tab, line break or an invisible character); fix the cell in the "
        "source (a changed reference could be another request's)",
    )
    rows.problems.add(
        _too_long(reference, 100),
        "reference",
        "reference is over 100 characters; shorten it in the source (the CRM key column holds 100)",
    )
    return reference


def _duplicate_references(rows: _Rows, reference: pd.Series) -> None:
    """Duplicate references among otherwise good rows: the first keeps it, later ones are rejected naming it."""
    n = rows.n
    good_ref = ~rows.problems.bad & reference.notna().to_numpy(bool)
    if not good_ref.any():
        return
    refs = reference[good_ref]
    later = refs.duplicated(keep="first").to_numpy(bool)
    if not later.any():
        return
    first_pos = pd.Series(np.flatnonzero(good_ref), index=refs.to_numpy()).groupby(level=0).first()
    dup_pos = np.flatnonzero(good_ref)[later]
    dup = np.zeros(n, dtype=bool)
    dup[dup_pos] = True
    first_rows = rows.df[ROW].to_numpy()[first_pos.reindex(reference.to_numpy()[dup_pos]).to_numpy()]
    reason = np.full(n, "", dtype=object)
    reason[dup_pos] = [
        f"reference '{r}' duplicates row {fr}; give each request its own reference or remove the copy"
        for r, fr in zip(reference.to_numpy()[dup_pos], first_rows, strict=True)
    ]
    rows.problems.add(dup, "reference", reason)


def _deadlines(
    rows: _Rows, engine: DeadlineFrameEngine | None, regime: pd.Series, received: pd.Series
) -> dict[str, np.ndarray]:
    """Statutory dates for the rows still valid, from the engine's vectorised path; a row whose deadline cannot be
    computed is rejected on its received date (the engine's own reason)."""
    n = rows.n
    candidates = ~rows.problems.bad
    if engine is None or not candidates.any():
        return {}
    pos = np.flatnonzero(candidates)
    computed = _deadlines_by_day(engine, regime.to_numpy(object)[pos], received.iloc[pos].reset_index(drop=True))
    values: dict[str, np.ndarray] = {}
    for col in DEADLINE_COLUMNS:
        full = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        full[pos] = computed[col]
        values[col] = full
    err = computed["error"]
    has_err = np.array([e is not None and e == e for e in err], dtype=bool)
    if has_err.any():
        reason = np.full(n, "", dtype=object)
        reason[pos[has_err]] = ["deadline cannot be computed: " + str(e) for e in err[has_err]]
        mask = np.zeros(n, dtype=bool)
        mask[pos[has_err]] = True
        rows.problems.add(mask, "received_at", reason)
    return values


def _assemble(
    rows: _Rows, out: dict[str, pd.Series], deadlines: dict[str, np.ndarray], files: pd.Series, sources: np.ndarray
) -> pd.DataFrame:
    """The valid rows' case columns plus row, file, source, deadline and (.eml) authority columns."""
    df = rows.df
    keep = ~rows.problems.bad
    columns: dict[str, np.ndarray | pd.api.extensions.ExtensionArray] = {c: _values(out[c])[keep] for c in CASE_COLUMNS}
    columns[ROW] = df[ROW].to_numpy()[keep]
    columns[FILE] = files.to_numpy(object)[keep]
    columns[SOURCE] = sources[keep]
    for col, deadline_column in deadlines.items():
        columns[col] = deadline_column[keep]
    if "authorities_addressed" in df.columns:  # .eml: how many public bodies the message was sent to
        addressed = pd.to_numeric(df["authorities_addressed"], errors="coerce").fillna(0).astype(int).to_numpy()
        columns[AUTHORITIES] = addressed[keep]
    # Object columns stay object: letting pandas infer its string dtype would walk every cell once more.
    return pd.DataFrame(
        {
            k: pd.Series(v, dtype=object) if isinstance(v, np.ndarray) and v.dtype.kind == "O" else v
            for k, v in columns.items()
        }
    )


def normalize_frame(
    raw: RawSource,
    mapping: SourceMapping,
    *,
    nation: str = "england",
    now: datetime | None = None,
    engine: DeadlineFrameEngine | None = None,
) -> NormalizedFrame:
    """Validate and normalise every row, one field group at a time; deadlines come from ``engine.compute_frame``
    when an engine is given.

    The groups run in a fixed order because a row's reject lists its problems in the order they were found, and
    later groups read earlier ones (regime detection reads the text, the stage the response date, the channel the
    requester's address).
    """
    cols = dict(mapping.columns.items())
    df, control_in_reference = apply_control_rule(raw.frame.reset_index(drop=True), cols)
    rows = _Rows(raw=raw, df=df, mapping=mapping, cols=cols, problems=_Problems(len(df)))
    out = _requester(rows)
    enums = {field: _enum_column(rows, field) for field in ("channel", "requester_type", "stage", "outcome", "regime")}
    out["subject"], out["request_text"] = _text(rows)
    out["regime"] = _regime(rows, enums["regime"], out["subject"], out["request_text"], nation)
    out["received_at"] = _received(rows, now or datetime.now(UTC))
    out["responded_at"] = _responded(rows, out["received_at"])
    out["stage"] = _stage(rows, enums["stage"], out["responded_at"])
    out |= _assignment(rows)
    out["exemptions"] = _exemptions(rows)
    out["wdtk_request_id"], out["channel"] = _whatdotheyknow(rows, out["requester_email"], enums["channel"])
    out["source_id"] = rows.get("source_id")
    files, sources = _sources(rows)
    out["reference"] = _reference(rows, out["source_id"], files, control_in_reference)
    out["requester_type"] = enums["requester_type"].fillna(RequesterType.MEMBER_OF_PUBLIC.value)
    out["outcome"] = enums["outcome"]
    out["source_system"] = pd.Series(np.full(rows.n, mapping.source.source_system or raw.name, dtype=object))
    _duplicate_references(rows, out["reference"])
    deadlines = _deadlines(rows, engine, out["regime"], out["received_at"])
    rejects = list(raw.rejects) + rows.problems.rejects(df[ROW].to_numpy(), sources)
    frame = _assemble(rows, out, deadlines, files, sources)
    log.info(
        "normalised source %s: %d rows read, %d valid, %d rejected, %d blank",
        raw.name,
        rows.n,
        len(frame),
        int(rows.problems.bad.sum()),
        raw.blank_rows,
    )
    return NormalizedFrame(frame=frame, rejects=rejects, rows_read=rows.n, blank_rows=raw.blank_rows)


def _deadlines_by_day(engine: DeadlineFrameEngine, regimes: np.ndarray, received: pd.Series) -> dict[str, np.ndarray]:
    """``engine.compute_frame`` once per distinct (regime, London receipt day), mapped back to every row.

    Statutory due dates depend on the regime and the calendar day of receipt only, and a register of a million
    requests has a few thousand such pairs, so this gives the engine's own answers at a fraction of the cost.
    """
    london = received.dt.tz_convert("Europe/London").dt.tz_localize(None).dt.normalize()
    days = london.to_numpy("datetime64[ns]").astype("datetime64[D]").astype(np.int64)
    codes, names = pd.factorize(pd.Series(regimes, dtype=object), use_na_sentinel=True)
    width = len(names) + 1
    key = days * width + (codes + 1)
    unique_keys, inverse = np.unique(key, return_inverse=True)
    unique_days = (unique_keys // width).astype("datetime64[D]").astype("datetime64[ns]")
    unique_codes = unique_keys % width - 1
    regime_of = np.array([*names, None], dtype=object)[unique_codes]
    small = pd.DataFrame(
        {
            "regime": regime_of,
            "received_at": pd.DatetimeIndex(unique_days).tz_localize("Europe/London"),
        }
    )
    computed = engine.compute_frame(small)
    out = {col: computed[col].to_numpy("datetime64[ns]")[inverse] for col in DEADLINE_COLUMNS}
    errors = computed["error"].to_numpy(object) if "error" in computed else np.full(len(small), None, dtype=object)
    out["error"] = errors[inverse]
    return out


# ------------------------------------------------------------------------------------------ FoiCase objects


def _val(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NA:
        return None
    return value


def _requester_reason(err: ErrorDetails) -> str:
    """A reason for a requester problem that does not repeat the value (it is personal data)."""
    loc = [str(p) for p in err["loc"]]
    part = loc[1] if len(loc) > 1 else "requester"
    if part == "email":
        return "requester email is not a valid address; correct it or leave it empty if a postal address is given"
    if part == "postcode":
        return "requester postcode is not a UK postcode; write it like 'SW1A 1AA' or leave it empty"
    return f"requester {part.replace('_', ' ')}: {err['msg'].removeprefix('Value error, ')}"


def case_from_row(row: Mapping[Hashable, Any]) -> FoiCase:
    """One normalised row -> FoiCase (pydantic validates once more: the model is the last word)."""
    v = {k: _val(x) for k, x in row.items()}
    received = v["received_at"]
    responded = v.get("responded_at")
    wdtk = v.get("wdtk_request_id")
    # model_validate, as the constructor does, with the requester as a dict so errors keep their ("requester", ...) loc.
    return FoiCase.model_validate(
        {
            "reference": v["reference"],
            "regime": v["regime"],
            "received_at": received.to_pydatetime() if isinstance(received, pd.Timestamp) else received,
            "channel": v["channel"],
            "requester": {
                "name": v["requester_name"],
                "email": v["requester_email"],
                "postal_address": v["requester_address"],
                "postcode": v["requester_postcode"],
                "organisation": v["requester_organisation"],
                "type": v["requester_type"],
            },
            "subject": v["subject"],
            "request_text": v["request_text"],
            "service_area": v.get("service_area"),
            "assigned_team": v.get("assigned_team"),
            "assigned_officer": v.get("assigned_officer"),
            "stage": v["stage"],
            "outcome": v.get("outcome"),
            "exemptions": v["exemptions"].split(";") if v.get("exemptions") else [],
            "responded_at": responded.to_pydatetime() if isinstance(responded, pd.Timestamp) else responded,
            "source_system": v["source_system"],
            "source_id": v.get("source_id"),
            "wdtk_request_id": int(wdtk) if wdtk is not None else None,
        }
    )


def iter_cases(frame: pd.DataFrame, batch_size: int = 5000) -> Iterator[tuple[int, FoiCase | Reject]]:
    """(frame position, FoiCase or Reject) in modest batches, so a million rows never sit in memory as objects."""
    columns = list(CASE_COLUMNS)
    for start in range(0, len(frame), batch_size):
        chunk = frame.iloc[start : start + batch_size]
        records = chunk[columns].to_dict("records")
        meta = chunk[[ROW, SOURCE]].to_numpy()
        for offset, (record, (row, source)) in enumerate(zip(records, meta, strict=True)):
            try:
                yield start + offset, case_from_row(record)
            except ValidationError as exc:
                fields, reasons = [], []
                for err in exc.errors():
                    loc = [str(p) for p in err["loc"]]
                    fields.append("requester_" + loc[1] if loc[0] == "requester" and len(loc) > 1 else loc[0])
                    reasons.append(
                        _requester_reason(err)
                        if loc[0] == "requester"
                        else f"{loc[0]}: {err['msg'].removeprefix('Value error, ')}"
                    )
                yield (
                    start + offset,
                    Reject(
                        source=str(source),
                        row=int(row),
                        field=", ".join(dict.fromkeys(fields)),
                        reason=" | ".join(reasons),
                    ),
                )
