"""Priority grade for each open case, with every point explained in words an officer can check.

Signals: how close the statutory deadline is, how long the case has waited, how complex it looks (length,
number of questions, regime, likely exemptions), what cross-referencing found, and whether the team that
must answer is closed or short-staffed before the due date (``mappings/team-calendars.toml``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector import tomlfile
from connector.errors import MappingError
from connector.intake.source_mapping import fold
from connector.model import CLOSED_STAGES, RelatedRequest, RelationKind

if TYPE_CHECKING:  # the pipeline imports the deadline engine lazily (intake may use deadlines: see check_layers)
    from connector.deadlines.calendar import WorkingCalendar
    from connector.deadlines.engine import DeadlineEngine

GRADES = ((60, "P1 urgent"), (35, "P2 high"), (15, "P3 normal"), (-1000, "P4 routine"))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Period(_Strict):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("end is before start; swap the two dates")
        return self

    def days(self) -> set[date]:
        return {self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)}


class Closure(Period):
    name: str = Field(min_length=1, max_length=100)
    #: Teams it applies to; empty means every team.
    teams: list[str] = Field(default_factory=list)


class Absence(Period):
    people: int = Field(default=1, ge=1)
    reason: str = Field(default="leave", max_length=100)


class Team(_Strict):
    name: str = Field(min_length=1, max_length=100)
    size: int = Field(ge=1, le=500)
    absence: list[Absence] = Field(default_factory=list)


class TeamCalendars(_Strict):
    closure: list[Closure] = Field(default_factory=list)
    team: list[Team] = Field(default_factory=list)

    def team_named(self, name: str | None) -> Team | None:
        if not name:
            return None
        key = fold(name)
        return next((t for t in self.team if fold(t.name) == key), None)

    def closures_for(self, team: str | None) -> list[Closure]:
        key = fold(team) if team else None
        return [c for c in self.closure if not c.teams or (key and key in {fold(t) for t in c.teams})]


def load_team_calendars(path: Path) -> TeamCalendars:
    if not path.is_file():
        return TeamCalendars()
    data, text = tomlfile.read_toml(
        path, what="the team calendars", fix_path="fix intake.team_calendars in the config", error=MappingError
    )
    return tomlfile.validate(TeamCalendars, data, path=path, text=text, error=MappingError)


#: Wording that suggests an exemption (FOIA section, EIR regulation) will need to be considered.
LIKELY_EXEMPTIONS: tuple[tuple[re.Pattern[str], str, str, str], ...] = (
    (
        re.compile(
            r"(?i)\b(names? of (staff|officers|employees|individuals)|salar(y|ies)|disciplinary|complain(t|ant)s?)\b"
        ),
        "s40",
        "reg13",
        "third parties' personal data",
    ),
    (
        re.compile(r"(?i)\b(contracts?|tenders?|suppliers?|pric(e|es|ing)|commercial|invoices?|bids?)\b"),
        "s43",
        "reg12(5)(e)",
        "commercial interests",
    ),
    (
        re.compile(r"(?i)\b(police|crime|fraud|investigations?|enforcement|prosecut\w*|cctv)\b"),
        "s31",
        "reg12(5)(b)",
        "law enforcement / course of justice",
    ),
    (
        re.compile(r"(?i)\b(legal advice|solicitors?|counsel|barrister|litigation)\b"),
        "s42",
        "reg12(5)(b)",
        "legal professional privilege",
    ),
    (
        re.compile(r"(?i)\b(security|cyber|passwords?|vulnerabilit\w*|terror\w*)\b"),
        "s24/s31",
        "reg12(5)(a)",
        "security",
    ),
    (
        re.compile(r"(?i)\b(draft|future publication|will be published|internal (emails?|discussions?))\b"),
        "s22/s36",
        "reg12(4)(d)/(e)",
        "unfinished or internal material",
    ),
)
_LIST_ITEM = re.compile(r"(?m)(?:^|\s)(?:\d{1,2}[.)]|\([a-z]\)|[-*•])\s+")
_WDTK_BATCH = re.compile(r"(?i)whatdotheyknow\.com/info_request_batch/\d+")


@dataclass
class Grade:
    grade: str
    score: int
    reasons: list[str] = field(default_factory=list)

    def text(self) -> str:
        return f"{self.grade} ({self.score}): " + "; ".join(self.reasons)


def _fmt(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def _date(value: Any) -> date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return pd.Timestamp(value).date()


class Grader:
    """Grades cases, counting working days in the deadline engine's calendars."""

    def __init__(self, engine: DeadlineEngine, calendars: TeamCalendars | None = None) -> None:
        self.engine = engine
        self.calendars = calendars or TeamCalendars()

    def grade(self, row: Mapping[Hashable, Any], related: list[RelatedRequest], today: date) -> Grade:
        reasons: list[tuple[int, str]] = []
        stage = row.get("stage") or "received"
        if stage in {s.value for s in CLOSED_STAGES}:
            return Grade("closed", 0, [f"no priority: stage is {stage.replace('_', ' ')}"])
        regime = str(row.get("regime") or "foia")
        cal = self.engine.calendar(regime)
        due = _date(row.get("extended_due")) or _date(row.get("due"))
        day0 = _date(row.get("day0"))

        if due is not None:
            left = cal.working_days_between(today, due)
            when = _fmt(due)
            if left < 0:
                reasons.append((50, f"overdue: the deadline was {when}, {-left} working days ago"))
            elif left == 0:
                reasons.append((45, f"due today ({when})"))
            elif left <= 3:
                reasons.append((35, f"due in {left} working days ({when})"))
            elif left <= 7:
                reasons.append((20, f"due in {left} working days ({when})"))
            elif left <= 12:
                reasons.append((10, f"due in {left} working days ({when})"))
            else:
                reasons.append((0, f"due {when}, {left} working days away"))
            reasons += self._team_pressure(row.get("assigned_team"), today, due, cal)
        else:
            reasons.append((20, "no statutory due date could be computed: check the received date"))
        if day0 is not None and stage in ("received", "validated"):
            waited = cal.working_days_between(day0, today)
            if waited > 5:
                reasons.append((10, f"received {waited} working days ago and still at stage '{stage}'"))

        text = f"{row.get('subject') or ''}\n{row.get('request_text') or ''}"
        words = len(text.split())
        if words > 400:
            reasons.append((10, f"long request ({words} words)"))
        body = row.get("request_text") or ""
        questions = max(body.count("?"), len(_LIST_ITEM.findall(body)))
        if questions >= 5:
            reasons.append((10, f"{questions} separate questions or parts"))
        elif questions >= 3:
            reasons.append((5, f"{questions} separate questions or parts"))
        if regime == "sar":
            reasons.append((10, "subject access: the requester's personal data must be searched for across systems"))
        elif regime in ("eir", "eisr"):
            reasons.append((5, "environmental information: EIR exceptions all carry a public interest test"))
        elif regime == "foisa":
            reasons.append((5, "FOISA: no extension for the public interest test"))
        hits = []
        eir = regime in ("eir", "eisr")
        for pattern, foia_code, eir_code, label in LIKELY_EXEMPTIONS:
            if pattern.search(text):
                hits.append(f"{eir_code if eir else foia_code} ({label})")
        if hits:
            reasons.append((min(15, 5 * len(hits)), "likely exemptions to consider: " + ", ".join(hits)))
        if row.get("channel") == "whatdotheyknow":
            reasons.append((5, "made through WhatDoTheyKnow: the request and the answer are published online"))
        addressed = row.get("_authorities")
        if isinstance(addressed, int | float) and addressed == addressed and addressed >= 3:
            reasons.append((5, f"sent to {int(addressed)} public bodies at once (round robin): answer consistently"))
        if _WDTK_BATCH.search(text):
            reasons.append((0, "a WhatDoTheyKnow batch request sent to many authorities: answer consistently"))

        kinds: dict[RelationKind, list[RelatedRequest]] = {}
        for link in related:
            kinds.setdefault(link.relation, []).append(link)
        if RelationKind.REPEAT in kinds:
            refs = ", ".join(r.reference for r in kinds[RelationKind.REPEAT][:3])
            reasons.append((5, f"possible repeat of {refs} (s.14(2)): decide before work starts"))
        if RelationKind.ROUND_ROBIN in kinds:
            n = len(kinds[RelationKind.ROUND_ROBIN])
            reasons.append(
                (5, f"round robin with {n} near-identical requests from other requesters: answer them alike")
            )
        if RelationKind.AGGREGATION in kinds:
            refs = ", ".join(r.reference for r in kinds[RelationKind.AGGREGATION][:3])
            reasons.append((5, f"may be aggregated with {refs} for the cost limit (s.12, 60 working days)"))
        if RelationKind.ANSWERED_BEFORE in kinds:
            refs = ", ".join(r.reference for r in kinds[RelationKind.ANSWERED_BEFORE][:3])
            reasons.append((-5, f"answered before in {refs}: reuse that answer (s.21 if published)"))

        score = sum(p for p, _ in reasons)
        label = next(name for floor, name in GRADES if score >= floor)
        return Grade(label, score, [f"{p:+d} {text}" for p, text in reasons])

    def _team_pressure(self, team: str | None, today: date, due: date, cal: WorkingCalendar) -> list[tuple[int, str]]:
        """Closures and absences between today and the due date, in working days the team actually has."""
        if due <= today:
            return []
        days = [today + timedelta(days=i) for i in range(1, (due - today).days + 1)]
        working = [d for d in days if cal.is_working_day(d)]
        if not working:
            return []
        out: list[tuple[int, str]] = []
        for closure in self.calendars.closures_for(team):
            lost = len(closure.days() & set(working))
            if lost:
                out.append(
                    (
                        min(25, 5 * lost),
                        f"closure '{closure.name}' takes {lost} of the {len(working)} working days before the due date",
                    )
                )
        info = self.calendars.team_named(team)
        if info is not None and info.absence:
            away_days = 0
            peak = 0
            for d in working:
                away = sum(a.people for a in info.absence if a.start <= d <= a.end)
                peak = max(peak, away)
                if away * 2 >= info.size:
                    away_days += 1
            if away_days:
                out.append(
                    (
                        min(20, 4 * away_days),
                        f"half or more of {info.name} ({peak} of {info.size}) away on {away_days} of the "
                        f"{len(working)} working days before the due date",
                    )
                )
        return out


def grade_frame(frame: pd.DataFrame, related: list[list[RelatedRequest]], grader: Grader, today: date) -> list[Grade]:
    records = frame.to_dict("records")
    return [grader.grade(rec, links, today) for rec, links in zip(records, related, strict=True)]
