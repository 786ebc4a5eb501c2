"""The holiday override file: lets a CRM admin add a newly proclaimed bank holiday (or remove one) without a release.

Banking and Financial Dealings Act 1971 s.1(3) lets the Sovereign appoint extra or substitute bank holidays by
proclamation (e.g. the State Funeral on 19 Sep 2022 was proclaimed eight days before). The `holidays` package only
learns such days in a new release, so ``mappings/holiday-overrides.toml`` bridges the gap.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import ErrorDetails

from connector import tomlfile
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
    data, text = tomlfile.read_toml(
        path, what="the holiday overrides", fix_path="fix deadlines.holiday_overrides in the config"
    )
    overrides = tomlfile.validate(
        HolidayOverrides, data, path=path, text=text, describe=_override_problem, locate=_override_entry
    )
    for entry in overrides.remove:
        if entry.date.month == 12 and entry.date.day == 25:
            raise MappingError(
                f"{path}: [[remove]] {entry.date}: Christmas Day is named in FOIA s.10(6) and FOISA s.73 "
                "themselves, so no proclamation can make it a working day; delete this entry"
            )
    return overrides


def _override_entry(loc: list[str]) -> str:
    """``[[add]] entry 1: 'reason'``: the entry people count in the file, then the key."""
    if len(loc) >= 2 and loc[0] in ("add", "remove") and loc[1].isdigit():
        field = ".".join(loc[2:]) or "(entry)"
        return f"[[{loc[0]}]] entry {int(loc[1]) + 1}: '{field}'"
    return f"'{'.'.join(loc)}'" if loc else "(top level)"


def _override_problem(err: ErrorDetails) -> tuple[str, str]:
    problem, fix = tomlfile.default_problem(err)
    loc = [str(p) for p in err["loc"]]
    field = ".".join(loc[2:]) if len(loc) > 2 else ""
    if err["type"] == "extra_forbidden":
        fix = "allowed keys are date, applies_to, name, reason"
    elif field.startswith("applies_to"):
        fix = "use england, wales, scotland, northern-ireland or all"
    elif field == "date" and err["type"] != "missing":
        fix = "write a TOML date without quotes, e.g. date = 2026-06-15"
    return problem, fix
