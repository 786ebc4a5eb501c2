"""Source mapping files (``mappings/source-*.toml``): which source column feeds which case field.

A CRM admin edits these, so every problem is reported as ``file: key: problem; fix`` and unknown keys are
refused (a typo such as ``requester_mail`` must not silently leave a field empty).
"""

from __future__ import annotations

import difflib
import functools
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from connector import tomlfile
from connector.errors import MappingError
from connector.model import ENUM_COLUMNS, SOURCE_FIELDS, Channel, Outcome, Regime, RequesterType, Stage


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Case fields a source column can feed (the vocabulary is the model's).
CASE_FIELDS = SOURCE_FIELDS

#: Fields whose values are translated through ``[values.<field>]`` and, for enums, checked against the choices.
ENUM_FIELDS: dict[str, type[StrEnum]] = ENUM_COLUMNS
VALUE_MAP_FIELDS = (*ENUM_FIELDS, "service_area", "assigned_team")

Column = str | list[str]


class SourceOptions(_Strict):
    """How to read the file and interpret its values."""

    description: str | None = None
    #: auto: UTF-8 (with or without BOM), falling back to Windows-1252 when the bytes are not UTF-8.
    encoding: Literal["auto", "utf-8", "utf-8-sig", "cp1252", "latin-1"] = "auto"
    #: 1-based line (CSV) or row (XLSX) of the header, or "auto" to find the line that names the mapped columns.
    header_row: int | Literal["auto"] = "auto"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    #: XLSX: sheet name or 0-based index.
    sheet: str | int = 0
    #: Time zone of timestamps that carry no offset (registers typed by hand are local time).
    timezone: str = "Europe/London"
    #: strftime formats tried in order for dates written as text; ISO 8601 is always tried first.
    date_formats: list[str] = Field(default_factory=lambda: ["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y"])
    #: Numbers such as 45352 or 45352.4375 in date columns are Excel serial dates (days since 1899-12-30).
    excel_serial_dates: bool = True
    source_system: str | None = Field(default=None, max_length=100)
    #: missing: detect the regime from the wording only when the source gives none;
    #: override: wording wins (an "FOI" about air quality becomes EIR); off: never.
    regime_detection: Literal["missing", "override", "off"] = "missing"
    #: Sources without references (web forms, mailboxes) get a stable one made from the source id.
    generate_reference: bool = False
    reference_prefix: str = Field(default="", max_length=20)
    reference_case: Literal["upper", "keep"] = "upper"
    #: SQL sources: the query, when the config's ``query`` is not set.
    query: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone; use e.g. 'Europe/London'") from None
        return value

    @field_validator("header_row")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("header_row counts from 1 (the first line); use 1 or more, or 'auto'")
        return value


class ColumnMap(_Strict):
    """Case field -> source column. A list joins several columns (first name + surname) with a space."""

    reference: Column | None = None
    received_at: Column | None = None
    received_time: str | None = None
    regime: str | None = None
    channel: str | None = None
    requester_name: Column | None = None
    requester_email: str | None = None
    requester_address: Column | None = None
    requester_postcode: str | None = None
    requester_organisation: str | None = None
    requester_type: str | None = None
    subject: str | None = None
    request_text: Column | None = None
    service_area: str | None = None
    assigned_team: str | None = None
    assigned_officer: str | None = None
    stage: str | None = None
    outcome: str | None = None
    responded_at: str | None = None
    exemptions: str | None = None
    wdtk_request_id: str | None = None
    source_id: str | None = None

    def items(self) -> list[tuple[str, list[str]]]:
        """(case field, [source columns]) for every mapped field."""
        mapped: dict[str, str | list[str] | None] = self.model_dump()
        out = []
        for name in CASE_FIELDS:
            value = mapped[name]
            if value is None:
                continue
            out.append((name, [value] if isinstance(value, str) else list(value)))
        return out

    def source_columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for _, cols in self.items():
            for col in cols:
                seen[col] = None
        return list(seen)


class Defaults(_Strict):
    """Values used when the source column is absent or the cell is empty."""

    regime: Regime | None = None
    channel: Channel | None = None
    requester_type: RequesterType | None = None
    stage: Stage | None = None
    service_area: str | None = Field(default=None, max_length=100)
    assigned_team: str | None = Field(default=None, max_length=100)

    def value(self, field: str) -> str | None:
        """The default for ``field`` as the frame holds it (an enum's string value), or None when there is none."""
        found: str | None = self.model_dump(mode="json").get(field)
        return found


class EnumValueMaps(_Strict):
    """Source word -> value of one of the model's vocabularies, for each enumerated case field."""

    regime: dict[str, Regime] = Field(default_factory=dict)
    channel: dict[str, Channel] = Field(default_factory=dict)
    requester_type: dict[str, RequesterType] = Field(default_factory=dict)
    stage: dict[str, Stage] = Field(default_factory=dict)
    outcome: dict[str, Outcome] = Field(default_factory=dict)

    def lookup(self, field: str) -> dict[str, str]:
        """The map for ``field`` keyed by folded source value, with enum members as their string values."""
        table: dict[str, str] = self.model_dump(mode="json", include={field})[field]
        return {fold(k): v for k, v in table.items()}


class ValueMaps(EnumValueMaps):
    """Source value -> case value, matched case-insensitively after trimming ("Env Info" = "eir")."""

    service_area: dict[str, str] = Field(default_factory=dict)
    assigned_team: dict[str, str] = Field(default_factory=dict)


if set(EnumValueMaps.model_fields) != set(ENUM_COLUMNS):  # the model's vocabularies are the one list
    raise RuntimeError("source_mapping.EnumValueMaps: fields differ from connector.model.ENUM_COLUMNS")

#: The words registers use for the vocabularies, shipped as data (package data beside this module).
SYNONYMS_FILE = Path(__file__).with_name("synonyms.toml")


@functools.cache
def load_synonyms(path: Path = SYNONYMS_FILE) -> EnumValueMaps:
    """The shipped synonym table, read once; a broken file is reported as ``FILE:LINE: 'KEY': problem; fix``."""
    return tomlfile.load(
        EnumValueMaps,
        path,
        what="the value synonyms",
        fix_path="reinstall foi-sync (the file ships with it) or restore it from the release",
        error=MappingError,
    )


class SourceMapping(_Strict):
    source: SourceOptions = Field(default_factory=SourceOptions)
    columns: ColumnMap = Field(default_factory=ColumnMap)
    values: ValueMaps = Field(default_factory=ValueMaps)
    defaults: Defaults = Field(default_factory=Defaults)

    #: Where it was read from (for messages); not a TOML key.
    origin: str = Field(default="<built-in mapping>", exclude=True)

    @model_validator(mode="after")
    def _reference_or_generated(self) -> SourceMapping:
        if self.columns.reference is None and not self.source.generate_reference:
            raise ValueError(
                "no column feeds 'reference'; map one under [columns] (reference = \"Ref No\") "
                "or set generate_reference = true under [source]"
            )
        if self.columns.received_at is None:
            raise ValueError("no column feeds 'received_at'; map the date-received column under [columns]")
        return self


def fold(value: str) -> str:
    """The form value maps are matched in: trimmed, inner whitespace collapsed, case-folded."""
    return " ".join(str(value).split()).casefold()


_ALLOWED: dict[str, tuple[str, ...]] = {
    "": ("source", "columns", "values", "defaults"),
    "source": tuple(SourceOptions.model_fields),
    "columns": CASE_FIELDS,
    "values": VALUE_MAP_FIELDS,
    "defaults": tuple(Defaults.model_fields),
}


def _fix_for(err: ErrorDetails) -> tuple[str, str]:
    """(problem, fix) for one pydantic error, without echoing values (a mapping may hold names)."""
    loc = [str(p) for p in err["loc"]]
    kind = err["type"]
    if kind == "extra_forbidden":
        section = loc[0] if len(loc) > 1 else ""
        allowed = _ALLOWED.get(section, ())
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return "unknown key", f"{hint}allowed keys here: {', '.join(allowed)}"
    if kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        return "not a known value", f"use one of {expected}"
    if kind == "missing":
        return "required key is missing", "add it"
    msg = err["msg"].removeprefix("Value error, ")
    if "; " in msg:
        problem, fix = msg.split("; ", 1)
        return problem, fix
    return msg, "correct the value (see docs/intake.md for the format)"


def describe_mapping_error(exc: ValidationError, origin: str, text: str | None = None) -> str:
    """The shared format (file:line, key, problem, fix) with intake's fixes (did you mean, allowed keys)."""
    return tomlfile.describe_errors(exc, origin, text, describe=_fix_for)


def parse_mapping(data: dict[str, Any], origin: str, text: str | None = None) -> SourceMapping:
    mapping = tomlfile.validate(SourceMapping, data, path=origin, text=text, error=MappingError, describe=_fix_for)
    mapping.origin = origin
    return mapping


def load_source_mapping(path: Path) -> SourceMapping:
    """Read and validate a source mapping file; raise :class:`MappingError` naming file, key and fix."""
    data, text = tomlfile.read_toml(
        path, what="the source mapping", fix_path="fix the 'mapping' path of the source", error=MappingError
    )
    return parse_mapping(data, str(path), text)


def builtin_mapping(kind: str, source_name: str) -> SourceMapping:
    """Mappings for sources whose fields foi-sync itself produces (.eml), used when no mapping file is named."""
    if kind == "eml-folder":
        data: dict[str, Any] = {
            "source": {
                "generate_reference": True,
                "reference_prefix": "EML-",
                "source_system": source_name,
                "date_formats": [],
            },
            "columns": {
                "received_at": "received_at",
                "requester_name": "from_name",
                "requester_email": "from_email",
                "subject": "subject",
                "request_text": "body",
                "source_id": "message_id",
                "wdtk_request_id": "wdtk_request_id",
                "channel": "channel",
            },
            "defaults": {"channel": "email"},
        }
        return parse_mapping(data, f"<built-in eml mapping for {source_name}>")
    raise MappingError(
        f"source '{source_name}': no mapping file; fix: set mapping = \"mappings/source-{source_name}.toml\" "
        "for this source in the config (see docs/intake.md)"
    )
