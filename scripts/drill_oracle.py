"""The drills' independent oracle: what the CRM must hold for the key columns of each register row, computed from
the raw rows without the connector, and the comparison with what the CRM holds.

The drills' older check (``bench_migration.compare_crm``) compares the CRM with the connector's own plan, so a
mapping bug (a column swapped, the email pushed to the wrong field) moves the plan and the CRM together and passes.
This module never imports ``connector``. It reads:

* the register with the ``csv`` module (the drills write UTF-8 CSVs with the header on line 1);
* the source mapping and the *shipped* target mapping with ``tomllib``, as data: which register column feeds a case
  field (``[columns]``), the register's words (``[values.*]``), and which CRM column and choice value a field lands
  in (``[fields.*]``, ``[contact]``). The target mapping is the contract, so it is the shipped file even when a
  drill runs the connector with another one (tests/drills/test_drill_oracle.py does, with a broken copy);
* the CRM over the Web API with plain ``requests`` (``$select``, ``Prefer: odata.maxpagesize``, ``@odata.nextLink``).

Hand-written rules (docs/intake.md "Normalisation" and "Keys", docs/client.md "Key-safe references"):

* reference: the cell trimmed and upper-cased (kept as typed with ``reference_case = "keep"``) in the reference
  column; the alternate-key column holds it with each of ``/ < > * % & : \\ ? + #`` replaced by ``-``;
* received_at: the date cell (plus the ``received_time`` cell when mapped and filled) read with the mapping's
  ``date_formats`` (ISO 8601 first) as local time in its ``timezone``; with a time the CRM must hold that instant,
  with a date only any instant on that local calendar day. responded_at likewise; a blank cell must stay empty.
  An autumn time that happens twice is the first (BST) one (RFC 5545 s.3.3.5, Python's fold=0). A spring time that
  never happens (01:00-01:59 on the day the clocks go forward) has no rule in docs/intake.md, so only its local
  calendar day is compared ("the received date is the London calendar day"), and it is counted as ``day_only``;
* requester email: trimmed and lower-cased, on the case's requester contact (blank: the contact has no email);
* regime: the cell through ``[values.regime]``, else the spellings docs/intake.md lists as understood without a map
  (FOI, Freedom of Information, EIR, Environmental, SAR, DSAR) or the canonical names, all case-insensitive; FOI and
  EIR become FOISA and EISR for a Scottish council; then the target mapping's choice value. A blank cell with
  ``regime_detection`` on, or any cell with ``override``, is decided from the wording: not predicted, counted;
* stage: the cell through ``[values.stage]``, else a canonical stage name; blank is ``received``; then the choice
  value. A word neither names is not predicted (the connector rejects such a row), counted.
* triage (docs/triage.md): a request nobody has acted on (stage received, validated or in_progress, no outcome, no
  response date) is triaged from its wording, which the oracle does not redo. Its recorded decision must agree with
  its stage: triage ``business_as_usual`` -> stage ``rerouted``, ``invalid`` -> ``invalid``, else the register's
  stage; and its regime may move only as the docs allow (to SAR; FOIA/FOISA to EIR/EISR) with the reason in the
  triage explanation. Counted under ``triage``. Answered cases are never triaged and are compared strictly.

Examples in the result name the reference and the CRM column, never a requester's name or email.
"""

from __future__ import annotations

import csv
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_TARGET = ROOT / "mappings" / "target-incident.toml"
SHIPPED_SOURCE = ROOT / "mappings" / "source-sample-register.toml"

#: Characters with which GET and PATCH by alternate key do not work (Microsoft Learn, "Define alternate keys using
#: Power Apps": https://learn.microsoft.com/power-apps/maker/data-platform/define-alternate-keys-portal); the key
#: column holds '-' instead (docs/client.md "Key-safe references").
KEY_UNSAFE = frozenset("/<>*%&:\\?+#")
#: docs/intake.md: "Common spellings are understood without a map" (regime).
BUILT_IN_REGIME = {
    "foi": "foia",
    "freedom of information": "foia",
    "eir": "eir",
    "environmental": "eir",
    "sar": "sar",
    "dsar": "sar",
}
SCOTLAND = {"foia": "foisa", "eir": "eisr"}
#: docs/triage.md: "Only requests nobody has acted on are triaged".
TRIAGED_STAGES = frozenset({"received", "validated", "in_progress"})


class OracleError(ValueError):
    """A mapping file the oracle cannot read as the contract it expects (names the file and key)."""


@dataclass(frozen=True)
class Spec:
    """The key columns of both mappings, read as data."""

    # source side: register column names and the register's words
    columns: dict[str, str]
    received_time: str | None
    regime_words: dict[str, str]
    stage_words: dict[str, str]
    date_formats: tuple[str, ...]
    zone: ZoneInfo
    regime_detection: str
    upper_reference: bool
    # target side: CRM columns and choice values
    entity_set: str
    crm: dict[str, str]  # case field -> CRM column (for the requester lookup: the _x_value read column)
    regime_choices: dict[str, int]
    stage_choices: dict[str, int]
    contact_set: str
    contact_id: str
    contact_email: str
    nation: str = "england"
    triage_choices: dict[str, int] = field(default_factory=dict)


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise OracleError(f"{path}: cannot be read as TOML ({exc}); fix the file or pass another mapping") from exc


def _get(data: Mapping[str, Any], path: Path, *keys: str) -> Any:
    node: Any = data
    for k in keys:
        if not isinstance(node, Mapping) or k not in node:
            raise OracleError(f"{path.name}: {'.'.join(keys)} is missing; the drill oracle needs it")
        node = node[k]
    return node


def load_spec(
    source_mapping: Path = SHIPPED_SOURCE, target_mapping: Path = SHIPPED_TARGET, nation: str = "england"
) -> Spec:
    """Both mapping files as data (tomllib); the target mapping is the contract, normally the shipped file."""
    src, tgt = _toml(source_mapping), _toml(target_mapping)
    columns: dict[str, str] = {}
    for name in ("reference", "received_at", "responded_at", "regime", "stage", "requester_email", "outcome"):
        value = src.get("columns", {}).get(name)
        if isinstance(value, str):
            columns[name] = value
        elif value is not None:
            raise OracleError(f"{source_mapping.name}: columns.{name} joins columns; the oracle reads one column")
    for required in ("reference", "received_at"):
        _get(src, source_mapping, "columns", required)
    options = src.get("source", {})
    fields = _get(tgt, target_mapping, "fields")
    crm = {
        "reference_key": str(_get(fields, target_mapping, "reference_key", "column")),
        "reference": str(_get(fields, target_mapping, "reference", "column")),
        "received_at": str(_get(fields, target_mapping, "received_at", "column")),
        "responded_at": str(_get(fields, target_mapping, "responded_at", "column")),
        "regime": str(_get(fields, target_mapping, "regime", "column")),
        "stage": str(_get(fields, target_mapping, "stage", "column")),
        "requester": f"_{_get(fields, target_mapping, 'requester', 'column')}_value",
    }
    for name in ("triage", "triage_explanation"):  # optional: a target mapping without triage columns
        if isinstance(fields.get(name), Mapping) and fields[name].get("column"):
            crm[name] = str(fields[name]["column"])
    contact = _get(tgt, target_mapping, "contact")
    email_column = contact.get("fields", {}).get("email", {}).get("column") or contact.get("email_column")
    if not email_column:
        raise OracleError(f"{target_mapping.name}: contact.fields.email.column is missing")
    values = src.get("values", {})
    return Spec(
        columns=columns,
        received_time=src.get("columns", {}).get("received_time"),
        regime_words={str(k).casefold(): str(v) for k, v in values.get("regime", {}).items()},
        stage_words={str(k).casefold(): str(v) for k, v in values.get("stage", {}).items()},
        date_formats=tuple(options.get("date_formats", ())),
        zone=ZoneInfo(str(options.get("timezone", "Europe/London"))),
        regime_detection=str(options.get("regime_detection", "missing")),
        upper_reference=options.get("reference_case", "upper") != "keep",
        entity_set=str(_get(tgt, target_mapping, "entity_set")),
        crm=crm,
        regime_choices={str(k): int(v) for k, v in _get(fields, target_mapping, "regime", "choices").items()},
        stage_choices={str(k): int(v) for k, v in _get(fields, target_mapping, "stage", "choices").items()},
        contact_set=str(_get(contact, target_mapping, "entity_set")),
        contact_id=str(_get(contact, target_mapping, "primary_id")),
        contact_email=str(email_column),
        nation=nation,
        triage_choices={str(k): int(v) for k, v in fields.get("triage", {}).get("choices", {}).items()},
    )


# ------------------------------------------------------------------------------------------------- the rules


@dataclass(frozen=True)
class When:
    """An expected date-time: an exact instant (the register gave a time) or a local calendar day (date only)."""

    instant: datetime | None = None
    day: date | None = None
    #: the register's local time does not exist (spring-forward gap): only the day is compared
    gap: bool = False

    def matches(self, crm_value: Any, zone: ZoneInfo) -> bool:
        got = _crm_datetime(crm_value)
        if got is None:
            return False
        if self.instant is not None:
            return got == self.instant
        return got.astimezone(zone).date() == self.day

    def __str__(self) -> str:
        if self.instant is not None:
            return self.instant.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"a time on {self.day} (local)"


def _crm_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        got = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return got if got.tzinfo is not None else None


def key_safe(reference: str) -> str:
    return "".join("-" if c in KEY_UNSAFE else c for c in reference)


def parse_when(day: str, at: str, spec: Spec) -> When | None:
    """Register date (and time) as the CRM must hold it; None when no rule reads it."""
    day, at = day.strip(), at.strip()
    if not day:
        return None
    parsed: datetime | None = None
    has_time = False
    text = f"{day} {at}" if at else day
    try:  # ISO 8601 first (docs/intake.md)
        parsed = datetime.fromisoformat(text if at else day)
        has_time = bool(at) or "T" in day or " " in day
    except ValueError:
        for fmt in spec.date_formats:
            try:
                parsed = datetime.strptime(text, fmt)
                has_time = "%H" in fmt
                break
            except ValueError:
                continue
    if parsed is None and at:  # a date-only format, with the time cell read on its own
        for fmt in spec.date_formats:
            try:
                d, t = datetime.strptime(day, fmt), datetime.strptime(at, "%H:%M")
            except ValueError:
                continue
            parsed, has_time = d.replace(hour=t.hour, minute=t.minute), True
            break
    if parsed is None:
        return None
    if not has_time:
        return When(day=parsed.date())
    if parsed.tzinfo is not None:
        return When(instant=parsed.astimezone(UTC))
    local = parsed.replace(tzinfo=spec.zone)
    if local.astimezone(UTC).astimezone(spec.zone).replace(tzinfo=None) != parsed:  # no such wall time
        return When(day=parsed.date(), gap=True)
    return When(instant=local.astimezone(UTC))


def regime_of(cell: str, spec: Spec) -> str | None:
    word = cell.strip()
    if spec.regime_detection == "override" or (not word and spec.regime_detection != "off"):
        return None
    key = word.casefold()
    regime = spec.regime_words.get(key) or BUILT_IN_REGIME.get(key) or (key if key in spec.regime_choices else None)
    if regime is not None and spec.nation == "scotland":
        regime = SCOTLAND.get(regime, regime)
    return regime


def stage_of(cell: str, spec: Spec) -> str | None:
    word = cell.strip()
    if not word:
        return "received"
    key = word.casefold()
    canonical = key.replace(" ", "_")
    return spec.stage_words.get(key) or (canonical if canonical in spec.stage_choices else None)


@dataclass
class Expected:
    """One register row as the CRM must hold it."""

    line: int
    reference: str
    case: dict[str, Any]  # CRM column -> value (When for date-times)
    email: str | None
    unpredicted: list[str] = field(default_factory=list)
    day_only: list[str] = field(default_factory=list)
    #: nobody has acted on it, so triage decides (docs/triage.md)
    triaged: bool = False


def expected_row(row: Mapping[str, str], line: int, spec: Spec) -> Expected:
    """The oracle for one register row (the rules in the module docstring)."""
    cols, crm = spec.columns, spec.crm

    def cell(name: str) -> str:
        return str(row.get(cols[name], "") or "") if name in cols else ""

    reference = cell("reference").strip()
    if spec.upper_reference:
        reference = reference.upper()
    case: dict[str, Any] = {crm["reference"]: reference, crm["reference_key"]: key_safe(reference)}
    unpredicted: list[str] = []
    received = parse_when(cell("received_at"), str(row.get(spec.received_time or "", "") or ""), spec)
    if received is None:
        unpredicted.append(crm["received_at"])
    else:
        case[crm["received_at"]] = received
    if "responded_at" in cols:
        responded_text = cell("responded_at")
        responded = parse_when(responded_text, "", spec)
        if responded is not None:
            case[crm["responded_at"]] = responded
        elif not responded_text.strip():
            case[crm["responded_at"]] = None
        else:
            unpredicted.append(crm["responded_at"])
    regime = regime_of(cell("regime"), spec) if "regime" in cols else None
    if regime is None or regime not in spec.regime_choices:
        unpredicted.append(crm["regime"])
    else:
        case[crm["regime"]] = spec.regime_choices[regime]
    stage = stage_of(cell("stage"), spec) if "stage" in cols else "received"
    if stage is None or stage not in spec.stage_choices:
        unpredicted.append(crm["stage"])
    else:
        case[crm["stage"]] = spec.stage_choices[stage]
    email = cell("requester_email").strip().lower() or None
    day_only = [c for c, v in case.items() if isinstance(v, When) and v.gap]
    untouched = not cell("outcome").strip() and not cell("responded_at").strip()
    triaged = stage in TRIAGED_STAGES and untouched
    return Expected(line, reference, case, email, unpredicted, day_only, triaged)


def read_register(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line, row) for each data row of a drill's CSV register (header on line 1; blank rows skipped)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        out = []
        for i, row in enumerate(csv.DictReader(fh)):
            if any((v or "").strip() for v in row.values()):
                out.append((i + 2, {k: v or "" for k, v in row.items() if k is not None}))
        return out


def expected_from_rows(rows: Iterable[tuple[int, Mapping[str, str]]], spec: Spec) -> list[Expected]:
    return [expected_row(row, line, spec) for line, row in rows]


# ------------------------------------------------------------------------------------------ reading the CRM


def fetch(
    api_url: str,
    token: Callable[[], str],
    entity_set: str,
    select: Iterable[str],
    *,
    page: int = 5000,
    timeout: float = 120.0,
) -> list[dict[str, Any]]:
    """Every row of an entity set, ``$select``-ed, following ``@odata.nextLink``; 429s waited out (bounded).
    Microsoft Learn, "Query data using the Web API" and "Page results":
    https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results"""
    url: str | None = f"{api_url.rstrip('/')}/{entity_set}?$select={','.join(sorted(set(select)))}"
    headers = {
        "Authorization": f"Bearer {token()}",
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
        "Prefer": f"odata.maxpagesize={page}",
    }
    rows: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    fresh_tokens = 3
    with requests.Session() as session:
        while url:
            r = session.get(url, headers=headers, timeout=60)
            if r.status_code in (429, 503) and time.monotonic() < deadline:
                time.sleep(min(float(r.headers.get("Retry-After") or 1), 5.0))
                continue
            if r.status_code == 401 and fresh_tokens:
                fresh_tokens -= 1
                headers["Authorization"] = f"Bearer {token()}"
                continue
            r.raise_for_status()
            body = r.json()
            rows.extend(body.get("value", []))
            url = body.get("@odata.nextLink")
    return rows


def crm_tables(api_url: str, token: Callable[[], str], spec: Spec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(cases, contacts) as the CRM holds them, only the key columns."""
    case_columns = [c for k, c in spec.crm.items() if k != "requester"] + [spec.crm["requester"]]
    cases = fetch(api_url, token, spec.entity_set, case_columns)
    contacts = fetch(api_url, token, spec.contact_set, [spec.contact_id, spec.contact_email])
    return cases, contacts


# ----------------------------------------------------------------------------------------------- comparison


def _after_triage(exp: Expected, got: Mapping[str, Any], spec: Spec, counts: dict[str, int]) -> dict[str, Any]:
    """The expected columns once triage's recorded decision is applied (the docs' rules; module docstring)."""
    want = dict(exp.case)
    crm = spec.crm
    if not exp.triaged or "triage" not in crm:
        return want
    decision = {v: k for k, v in spec.triage_choices.items()}.get(got.get(crm["triage"]))
    stage = {"business_as_usual": "rerouted", "invalid": "invalid"}.get(str(decision))
    if stage in spec.stage_choices and crm["stage"] in want:
        want[crm["stage"]] = spec.stage_choices[stage]
        counts[stage] = counts.get(stage, 0) + 1
    names = {v: k for k, v in spec.regime_choices.items()}
    before, after = names.get(want.get(crm["regime"])), names.get(got.get(crm["regime"]))
    allowed = after == "sar" or (before in ("foia", "foisa") and after in ("eir", "eisr"))
    if before and after and before != after and allowed and got.get(crm.get("triage_explanation", "")):
        del want[crm["regime"]]
        counts["regime moved"] = counts.get("regime moved", 0) + 1
    return want


def _equal(want: Any, got: Any, zone: ZoneInfo) -> bool:
    if isinstance(want, When):
        return want.matches(got, zone)
    if want is None:
        return got in (None, "")
    return bool(want == got or str(want) == str(got))


def compare(
    expected: list[Expected],
    cases: list[dict[str, Any]],
    contacts: list[dict[str, Any]],
    spec: Spec,
    *,
    allow_extra: bool = False,
) -> dict[str, Any]:
    """Each expected case once in the CRM, its key columns equal to the oracle; -> counts by column and examples."""
    ref_col, email_label = spec.crm["reference"], f"{spec.contact_set}.{spec.contact_email}"
    by_ref: dict[str, list[dict[str, Any]]] = {}
    for row in cases:
        by_ref.setdefault(str(row.get(ref_col)), []).append(row)
    email_by_contact = {str(c.get(spec.contact_id)): c.get(spec.contact_email) for c in contacts}
    by_column: dict[str, int] = {}
    unpredicted: dict[str, int] = {}
    day_only: dict[str, int] = {}
    triage: dict[str, int] = {}
    examples: list[str] = []
    lost = duplicated = checked = 0

    def differs(ref: str, column: str, detail: str) -> None:
        by_column[column] = by_column.get(column, 0) + 1
        if len(examples) < 8:
            examples.append(f"{ref}: {column} {detail}")

    for exp in expected:
        for column in exp.unpredicted:
            unpredicted[column] = unpredicted.get(column, 0) + 1
        for column in exp.day_only:
            day_only[column] = day_only.get(column, 0) + 1
        got_rows = by_ref.get(exp.reference, [])
        if not got_rows:
            lost += 1
            if len(examples) < 8:
                examples.append(f"{exp.reference} (register line {exp.line}): no case with this {ref_col}")
            continue
        duplicated += len(got_rows) - 1
        got = got_rows[0]
        checked += 1
        for column, want in _after_triage(exp, got, spec, triage).items():
            if not _equal(want, got.get(column), spec.zone):
                differs(exp.reference, column, f"expected {want}, CRM has {got.get(column)}")
        contact_id = got.get(spec.crm["requester"])
        crm_email = email_by_contact.get(str(contact_id)) if contact_id else None
        if not _equal(exp.email, crm_email, spec.zone):
            differs(exp.reference, email_label, "differs from the register's email (values not shown)")
    wanted = {e.reference for e in expected}
    extra = sum(1 for ref in by_ref if ref not in wanted)
    mismatched = sum(by_column.values())
    ok = lost == 0 and duplicated == 0 and mismatched == 0 and (allow_extra or extra == 0) and checked > 0
    return {
        "ok": ok,
        "source_rows": len(expected),
        "checked_cases": checked,
        "lost": lost,
        "duplicated": duplicated,
        "extra": extra,
        "mismatched": mismatched,
        "by_column": dict(sorted(by_column.items())),
        "unpredicted": dict(sorted(unpredicted.items())),
        "day_only": dict(sorted(day_only.items())),
        "triage": dict(sorted(triage.items())),
        "examples": examples,
    }


def check(
    register: Path | Iterable[tuple[int, Mapping[str, str]]],
    api_url: str,
    token: Callable[[], str],
    *,
    source_mapping: Path = SHIPPED_SOURCE,
    target_mapping: Path = SHIPPED_TARGET,
    nation: str = "england",
    only: Iterable[str] | None = None,
    allow_extra: bool = False,
) -> dict[str, Any]:
    """The oracle end to end: raw register rows (a CSV path or (line, row) pairs) against the CRM over the Web API.
    ``only``: the references (as in the register) to check, when the register also holds rows meant to be refused."""
    spec = load_spec(source_mapping, target_mapping, nation)
    rows = read_register(register) if isinstance(register, Path) else list(register)
    expected = expected_from_rows(rows, spec)
    if only is not None:
        keep = {r.strip().upper() if spec.upper_reference else r.strip() for r in only}
        expected = [e for e in expected if e.reference in keep]
    cases, contacts = crm_tables(api_url, token, spec)
    return compare(expected, cases, contacts, spec, allow_extra=allow_extra)


def describe(result: Mapping[str, Any]) -> str:
    """One line for a drill's output."""
    columns = f" {result['by_column']}" if result["by_column"] else ""
    text = (
        f"oracle from the raw rows: {result['checked_cases']:,}/{result['source_rows']:,} cases, key columns "
        f"mismatched {result['mismatched']}{columns}, lost {result['lost']}, duplicated {result['duplicated']}, "
        f"extra {result['extra']}"
    )
    if result["unpredicted"]:
        text += f"; not predicted (decided from the wording) {result['unpredicted']}"
    if result.get("triage"):
        text += f"; decided by triage (docs/triage.md) {result['triage']}"
    if result["day_only"]:
        text += f"; compared on the day only (a local time the clocks skip) {result['day_only']}"
    if result["examples"] and not result["ok"]:
        text += f" {result['examples'][:4]}"
    return text
