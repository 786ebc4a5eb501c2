"""``foi-sync mapping check``: compare a target mapping with the tenant's live metadata and list every mismatch.

Each problem names the mapping file, the key in it, what is wrong and the fix. Errors stop ``sync`` and ``migrate``
before anything is written (exit 2); warnings (e.g. a case value no choice maps) are shown but do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from connector import odata
from connector.dataverse.errors import DataverseError, NotFound
from connector.dataverse.metadata import ColumnMetadata, TableMetadata
from connector.errors import MappingError
from connector.model import Channel, Outcome, Regime, RequesterType, ReviewOutcome, Stage
from connector.sync.mapping import FieldMap, TargetMapping

if TYPE_CHECKING:
    from connector.dataverse.client import DataverseClient
    from connector.sync.state import StateStore

#: Which Dataverse AttributeTypes can hold each mapping field type.
COMPATIBLE: dict[str, set[str]] = {
    "string": {"String"},
    "memo": {"Memo", "String"},
    "choice": {"Picklist", "State", "Status"},
    "date": {"DateTime"},
    "datetime": {"DateTime"},
    "integer": {"Integer", "BigInt"},
    "boolean": {"Boolean"},
    "lookup": {"Lookup", "Customer", "Owner"},
}

#: Every value a case field can take, for checking that the choices cover them all.
FIELD_VALUES: dict[str, list[str]] = {
    "regime": [e.value for e in Regime],
    "channel": [e.value for e in Channel],
    "stage": [e.value for e in Stage],
    "outcome": [e.value for e in Outcome],
    "review_outcome": [e.value for e in ReviewOutcome],
    "complaint_outcome": [e.value for e in ReviewOutcome],
    "requester_type": [e.value for e in RequesterType],
    "rag_status": ["green", "amber", "red"],
    "priority_grade": ["p1_urgent", "p2_high", "p3_normal", "p4_routine", "closed"],
    "extension": ["pit", "eir", "sar"],
}

#: Required columns the platform fills itself, so a mapping never needs to map them.
PLATFORM_FILLED = {
    "ownerid",
    "statecode",
    "statuscode",
    "createdon",
    "modifiedon",
    "createdby",
    "modifiedby",
    "owningbusinessunit",
    "transactioncurrencyid",
    "versionnumber",
}


class Kind(StrEnum):
    TABLE_MISSING = "table_missing"
    ENTITY_SET = "entity_set"
    PRIMARY_ID = "primary_id"
    COLUMN_MISSING = "column_missing"
    TYPE = "type_mismatch"
    MAX_LENGTH = "max_length"
    CHOICE_VALUE = "choice_value_missing"
    CHOICE_UNMAPPED = "case_value_unmapped"
    NAV = "navigation_property"
    LOOKUP_TARGET = "lookup_target"
    KEY_MISSING = "alternate_key_missing"
    KEY_INACTIVE = "alternate_key_not_active"
    REQUIRED = "required_column_unmapped"
    READ_ONLY = "read_only_column"
    REGARDING = "regarding_navigation"
    BPF = "business_process_flow"


@dataclass
class Problem:
    file: str
    key: str
    kind: Kind
    problem: str
    fix: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.severity}: {self.file}: {self.key}: {self.problem}. Fix: {self.fix}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "file": self.file,
            "key": self.key,
            "kind": self.kind.value,
            "problem": self.problem,
            "fix": self.fix,
        }


class _Checker:
    def __init__(self, client: DataverseClient, mapping: TargetMapping) -> None:
        self.client = client
        self.m = mapping
        self.file = str(mapping.source_path or "target mapping")
        self.problems: list[Problem] = []

    def add(
        self, key: str, kind: Kind, problem: str, fix: str, severity: Literal["error", "warning"] = "error"
    ) -> None:
        self.problems.append(Problem(self.file, key, kind, problem, fix, severity))

    def table(self, logical: str) -> TableMetadata | None:
        try:
            return self.client.metadata.table(logical, refresh=True)
        except NotFound:
            return None

    def run(self) -> list[Problem]:
        m = self.m
        case_md = self.table(m.table)
        if case_md is None:
            self.add(
                "table",
                Kind.TABLE_MISSING,
                f"table '{m.table}' does not exist in the tenant",
                "run `foi-sync mapping provision` (custom tables) or correct table = '...' to the logical name",
            )
        else:
            self.check_table(case_md, m.table, m.entity_set, m.primary_id, m.fields, m.alternate_key, "")
            if m.alternate_key_name and case_md.key_for(m.alternate_key) is None:
                pass  # reported by check_table
        contact = m.contact
        contact_md = self.table(contact.table)
        if contact_md is None:
            self.add(
                "contact.table",
                Kind.TABLE_MISSING,
                f"table '{contact.table}' does not exist",
                "set contact.table to the contact table's logical name",
            )
        else:
            self.check_table(
                contact_md,
                contact.table,
                contact.entity_set,
                contact.primary_id,
                contact.fields,
                contact.alternate_key,
                "contact.",
            )
        self.check_regarding("regarding_nav_email", "email", m.regarding_nav_email, "letters cannot be linked to cases")
        if m.reminders.enabled:
            self.check_regarding(
                "reminders.regarding_nav", "task", m.reminders.regarding_nav, "reminder tasks cannot be linked to cases"
            )
        if m.timeline.stage_notes:
            self.check_regarding(
                "timeline.note_regarding_nav",
                "annotation",
                m.timeline.note_regarding_nav,
                "stage-change notes cannot be linked to cases",
            )
        self.check_bpf()
        return self.problems

    def check_bpf(self) -> None:
        """The optional business process flow: anything missing is a warning (stage moves are skipped), never an
        error, so a mapping that names a BPF still syncs on a tenant without it."""
        bpf = self.m.bpf
        if bpf is None:
            return
        skip = "stage changes will not move the business process flow"
        try:
            md = self.client.metadata.table_for_set(bpf.entity_set)
        except (LookupError, NotFound):
            self.add(
                "bpf.entity_set",
                Kind.BPF,
                f"no table has the entity set '{bpf.entity_set}' (the business process flow is not activated in "
                f"this tenant), so {skip}",
                "activate the flow in the CRM and set bpf.entity_set to its table's entity set, or remove [bpf]",
                "warning",
            )
            return
        for key, nav in (("bpf.case_nav", bpf.case_nav), ("bpf", "activestageid")):
            if nav not in md.navigation:
                self.add(
                    key,
                    Kind.BPF,
                    f"table '{md.logical_name}' has no navigation property '{nav}', so {skip}",
                    "set bpf.case_nav to the flow's lookup to the case table (e.g. bpf_incidentid)",
                    "warning",
                )
                return
        if bpf.case_lookup_column not in md.attributes:
            self.add(
                "bpf.case_lookup_column",
                Kind.BPF,
                f"table '{md.logical_name}' has no column '{bpf.case_lookup_column}', so {skip}",
                "set bpf.case_lookup_column to the flow's lookup column to the case table (e.g. bpf_incidentid)",
                "warning",
            )
            return
        ids = sorted({i.lower() for i in bpf.path})
        if not ids:
            return
        try:
            found = {
                str(r["processstageid"]).lower()
                for r in self.client.query(
                    "processstages",
                    select=["processstageid"],
                    filter=odata.any_of("processstageid", [odata.Guid(i) for i in ids]),
                )
            }
        except DataverseError:  # a tenant that hides processstages: say so, never fail the check
            found = set()
        missing = [i for i in ids if i not in found]
        if missing:
            self.add(
                "bpf.stage_ids",
                Kind.BPF,
                f"{len(missing)} stage id(s) are not process stages in this tenant ({', '.join(missing[:3])}), so "
                f"{skip} to them",
                "read the ids with GET processstages?$select=stagename&$filter=_processid_value eq <the flow's "
                "workflow id> and put them in [bpf.stage_ids]",
                "warning",
            )

    def check_table(
        self,
        md: TableMetadata,
        logical: str,
        entity_set: str,
        primary_id: str,
        fields: dict[str, FieldMap],
        alt_key: list[str],
        prefix: str,
    ) -> None:
        if md.entity_set != entity_set:
            self.add(
                f"{prefix}entity_set",
                Kind.ENTITY_SET,
                f"table '{logical}' has entity set '{md.entity_set}', the mapping says '{entity_set}'",
                f'set {prefix}entity_set = "{md.entity_set}" (entity set names are case-sensitive)',
            )
        if md.primary_id != primary_id:
            self.add(
                f"{prefix}primary_id",
                Kind.PRIMARY_ID,
                f"table '{logical}' has primary id '{md.primary_id}', the mapping says '{primary_id}'",
                f'set {prefix}primary_id = "{md.primary_id}"',
            )
        mapped = set()
        for name, spec in fields.items():
            key = f"{prefix}fields.{name}"
            mapped.add(spec.column)
            col = md.attributes.get(spec.column)
            if col is None:
                self.add(
                    f"{key}.column",
                    Kind.COLUMN_MISSING,
                    f"column '{spec.column}' does not exist on table '{logical}'",
                    "run `foi-sync mapping provision` to create it, or correct the column to an existing logical name",
                )
                continue
            if col.type not in COMPATIBLE[spec.type]:
                self.add(
                    f"{key}.type",
                    Kind.TYPE,
                    f"column '{spec.column}' is a {col.type} column in the CRM, the mapping says type = '{spec.type}'",
                    f"set type to one that fits {col.type} ({_types_for(col.type)}) or map the field to another column",
                )
                continue
            if spec.push and not col.valid_for_create and not col.valid_for_update:
                self.add(
                    f"{key}.column",
                    Kind.READ_ONLY,
                    f"column '{spec.column}' is read-only in the CRM",
                    "set push = false (pull only) or map the field to a writable column",
                )
            if (
                spec.type in ("string", "memo")
                and col.max_length
                and spec.max_length
                and spec.max_length > col.max_length
            ):
                self.add(
                    f"{key}.max_length",
                    Kind.MAX_LENGTH,
                    f"the mapping sends up to {spec.max_length} characters but column '{spec.column}' holds "
                    f"{col.max_length}",
                    f"raise the column's maximum length to {spec.max_length} in the CRM, or set max_length = "
                    f"{col.max_length} (with on_too_long = 'truncate' if cutting the tail is acceptable)",
                )
            if spec.type == "choice":
                self.check_choice(key, name, spec, col)
            if spec.type == "lookup":
                self.check_lookup(key, spec, col, md)
        for col_name in alt_key:
            if col_name not in md.attributes:
                mapped.add(col_name)
        key_md = md.key_for(alt_key)
        if key_md is None:
            self.add(
                f"{prefix}alternate_key",
                Kind.KEY_MISSING,
                f"table '{logical}' has no alternate key on ({', '.join(alt_key)})",
                "run `foi-sync mapping provision`, or add the key in the maker portal (Table > Keys) and wait until it "
                "is Active",
            )
        elif not key_md.active:
            fix = (
                "the key's index failed to build, usually because of duplicate values: remove the duplicates, then "
                "reactivate the key (ReactivateEntityKey, or Keys > Reactivate in the maker portal)"
                if key_md.status == "Failed"
                else "Dataverse is still building the key's index; wait a few minutes and run the check again"
            )
            self.add(
                f"{prefix}alternate_key",
                Kind.KEY_INACTIVE,
                f"alternate key '{key_md.schema_name}' is {key_md.status}, not Active",
                fix,
            )
        for col in md.attributes.values():
            if (
                col.required in ("ApplicationRequired", "SystemRequired")
                and col.logical_name not in mapped
                and col.logical_name != md.primary_id
                and col.logical_name not in PLATFORM_FILLED
                and col.valid_for_create
            ):
                self.add(
                    f"{prefix}fields",
                    Kind.REQUIRED,
                    f"column '{col.logical_name}' is {col.required} on '{logical}' but no field maps to it, so "
                    "creates will fail",
                    f'map a case field to it ([{prefix}fields.<field>] column = "{col.logical_name}"), or make the '
                    "column optional in the CRM",
                )

    def check_choice(self, key: str, name: str, spec: FieldMap, col: ColumnMetadata) -> None:
        options: dict[int, str] = col.options or {}
        for case_value, option in spec.choices.items():
            if option not in options:
                have = ", ".join(f"{v} {t!r}" for v, t in sorted(options.items())[:12]) or "none"
                self.add(
                    f"{key}.choices.{case_value}",
                    Kind.CHOICE_VALUE,
                    f"option value {option} (for '{case_value}') is not a choice of '{spec.column}' (it has: {have})",
                    "add the option to the column in the CRM (or run `foi-sync mapping provision`), or map "
                    f"'{case_value}' to one of the values it has",
                )
        known = FIELD_VALUES.get(name)
        if known and spec.push:
            missing = [v for v in known if v not in spec.choices]
            if missing:
                self.add(
                    f"{key}.choices",
                    Kind.CHOICE_UNMAPPED,
                    f"case value(s) {', '.join(missing)} have no CRM option, so cases with them will be dead-lettered",
                    f"add e.g. {missing[0]} = <option value> under [{key}.choices]",
                    "warning",
                )

    def check_lookup(self, key: str, spec: FieldMap, col: ColumnMetadata, md: TableMetadata) -> None:
        if spec.target and col.targets and spec.target not in col.targets:
            self.add(
                f"{key}.target",
                Kind.LOOKUP_TARGET,
                f"lookup '{spec.column}' points at {', '.join(col.targets)}, not '{spec.target}'",
                f"set target to one of {', '.join(col.targets)}",
            )
        navs = md.lookup_navs(spec.column)
        if navs and spec.nav not in navs:
            near = next((n for n in navs if n.lower() == (spec.nav or "").lower()), None)
            hint = f" (names are case-sensitive: '{near}')" if near else ""
            self.add(
                f"{key}.nav",
                Kind.NAV,
                f"navigation property '{spec.nav}' does not exist for lookup '{spec.column}'{hint}",
                f"set nav to one of {', '.join(navs)}",
            )
        if spec.match_column and spec.target:
            target_md = self.table(spec.target)
            if target_md is not None and spec.match_column not in target_md.attributes:
                self.add(
                    f"{key}.match_column",
                    Kind.COLUMN_MISSING,
                    f"table '{spec.target}' has no column '{spec.match_column}' to match names against",
                    "set match_column to the target table's name column (e.g. name)",
                )

    def check_regarding(self, key: str, activity: str, nav: str | None, consequence: str) -> None:
        if not nav:
            return
        md = self.table(activity)
        if md is None:
            return
        if nav not in md.navigation:
            options = sorted(n for n, p in md.navigation.items() if p.kind == "single" and p.target == self.m.table)
            fix = (
                f'set {key} = "{options[0]}"'
                if options
                else (f"enable activities/notes for table '{self.m.table}' in the CRM, or remove {key}")
            )
            self.add(
                key,
                Kind.REGARDING,
                f"the {activity} table has no navigation property '{nav}', so {consequence}",
                fix,
                "warning",
            )


def _types_for(crm_type: str) -> str:
    return ", ".join(k for k, v in COMPATIBLE.items() if crm_type in v) or "none"


def check_mapping(client: DataverseClient, mapping: TargetMapping) -> list[Problem]:
    """Every mismatch between the mapping and the tenant (errors first)."""
    problems = _Checker(client, mapping).run()
    return sorted(problems, key=lambda p: p.severity != "error")


def require_valid(client: DataverseClient, mapping: TargetMapping) -> list[Problem]:
    """Run the check; raise MappingError listing the errors, return the warnings."""
    problems = check_mapping(client, mapping)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise MappingError(
            f"the target mapping does not match the tenant ({len(errors)} problem(s)); nothing was written:\n"
            + "\n".join(str(p) for p in errors)
        )
    return problems


# ---------------------------------------------------------------------------------------------- cached check


def _snapshot_metadata(client: DataverseClient) -> dict[str, Any]:
    """The table definitions the live check just read, so a cached run needs no EntityDefinitions request either."""
    return {"tables": {logical: meta.model_dump(mode="json") for logical, meta in client.metadata.export().items()}}


def _prime_metadata(client: DataverseClient, snapshot: dict[str, Any]) -> None:
    """Seed the client's metadata cache from a snapshot; a table stored by an older version that no longer
    validates is skipped (it is read live when needed), never fatal."""
    tables = []
    for raw in (snapshot.get("tables") or {}).values():
        try:
            tables.append(TableMetadata.model_validate(raw))
        except ValueError:
            continue
    client.metadata.prime(tables)


def _problem(raw: dict[str, Any]) -> Problem:
    return Problem(
        raw["file"], raw["key"], Kind(raw["kind"]), raw["problem"], raw["fix"], raw.get("severity", "warning")
    )


def require_valid_cached(
    client: DataverseClient,
    mapping: TargetMapping,
    state: StateStore,
    environment: str,
    max_age_hours: float,
    *,
    remember: bool = True,
) -> tuple[list[Problem], bool]:
    """``require_valid``, reusing a passing live check younger than ``max_age_hours`` for this environment and
    mapping fingerprint. -> (warnings, True when the cached result was used). ``remember=False`` (dry runs) reads the
    cache but never writes it. Errors are never cached: a failing mapping is checked live every run."""
    hit = state.passing_check(environment, mapping.fingerprint, max_age_hours) if max_age_hours > 0 else None
    if hit is not None:
        _prime_metadata(client, hit.get("metadata") or {})
        return [_problem(p) for p in hit["problems"]], True
    problems = require_valid(client, mapping)
    if remember and max_age_hours > 0:
        state.save_check(environment, mapping.fingerprint, [p.as_dict() for p in problems], _snapshot_metadata(client))
    return problems, False


_METADATA_MESSAGE = re.compile(
    r"(property|attribute|column|navigation|entity ?set|segment|alternate key|entity key)[^.]{0,120}?"
    r"(does not exist|not found|could not find|unknown|undeclared|not valid|invalid|not defined)"
    r"|could not find (a |an )?(property|attribute|navigation)|(unknown|undeclared) (column|attribute|property)",
    re.IGNORECASE,
)
#: Dataverse codes for a request that names something the table does not have.
_METADATA_CODES = {"0x80060888", "0x8006088a", "0x80040217", "0x80048d19"}


def metadata_shaped(code: str | None, message: str | None, exc: BaseException | None = None) -> bool:
    """True when a failed write looks like the tenant's metadata no longer matches the mapping, so the cached
    check must not be trusted: ValidationFailed, an unknown column or a bad navigation property."""
    from connector.dataverse.errors import ValidationFailed

    if exc is not None and isinstance(exc, ValidationFailed):
        return True
    if (code or "").lower() in _METADATA_CODES:
        return True
    return bool(_METADATA_MESSAGE.search(message or ""))
