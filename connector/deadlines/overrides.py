"""The holiday override file: lets a CRM admin add a newly proclaimed bank holiday (or remove one) without a release.

Banking and Financial Dealings Act 1971 s.1(3) lets the Sovereign appoint extra or substitute bank holidays by
proclamation (e.g. the State Funeral on 19 Sep 2022 was proclaimed eight days before). The `holidays` package only
learns such days in a new release, so ``mappings/holiday-overrides.toml`` bridges the gap.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connector.errors import MappingError

OverrideNation = Literal["england", "wales", "scotland", "northern-ireland"]
ALL_NATIONS: tuple[OverrideNation, ...] = ("england", "wales", "scotland", "northern-ireland")


class HolidayOverride(BaseModel):
    """One date to add to, or remove from, the bank-holiday lists of the nations named."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    date: date
    applies_to: list[OverrideNation] = Field(min_length=1)
    name: str = Field(default="Bank holiday (override)", min_length=1, max_length=120)
    #: Why: the proclamation or notice (e.g. "Proclamation of 10 Sep 2022, London Gazette 63820").
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("applies_to", mode="before")
    @classmethod
    def _nations(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and value == ["all"]:
            return list(ALL_NATIONS)
        return value


class HolidayOverrides(BaseModel):
    """The whole file: ``[[add]]`` and ``[[remove]]`` tables."""

    model_config = ConfigDict(extra="forbid")

    add: list[HolidayOverride] = Field(default_factory=list)
    remove: list[HolidayOverride] = Field(default_factory=list)

    def for_nation(self, nation: str) -> tuple[dict[date, str], set[date]]:
        """(dates added with names, dates removed) for one nation."""
        added = {o.date: o.name for o in self.add if nation in o.applies_to}
        removed = {o.date for o in self.remove if nation in o.applies_to}
        return added, removed


def load_overrides(path: Path | None) -> HolidayOverrides:
    """Read and validate the override file; a missing file means no overrides. Errors name the file and entry."""
    if path is None or not Path(path).is_file():
        return HolidayOverrides()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path}: not valid TOML ({exc}); fix the syntax at the position shown") from exc
    try:
        overrides = HolidayOverrides.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = list(err["loc"])
            where = "top level"
            if len(loc) >= 2 and loc[0] in ("add", "remove") and isinstance(loc[1], int):
                where = f"[[{loc[0]}]] entry {loc[1] + 1}"
                loc = loc[2:]
            field = ".".join(str(p) for p in loc) or "(entry)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key; allowed keys are date, applies_to, name, reason"
            elif err["type"] == "missing":
                msg = "required key is missing; add it"
            elif field.startswith("applies_to"):
                msg += " (use england, wales, scotland, northern-ireland or all)"
            elif field == "date":
                msg += " (write a TOML date without quotes, e.g. date = 2026-06-15)"
            lines.append(f"{path}: {where}: '{field}': {msg}")
        raise MappingError("\n".join(lines)) from None
    for entry in overrides.remove:
        if entry.date.month == 12 and entry.date.day == 25:
            raise MappingError(
                f"{path}: [[remove]] {entry.date}: Christmas Day is named in FOIA s.10(6) and FOISA s.73 "
                "themselves, so no proclamation can make it a working day; delete this entry"
            )
    return overrides
