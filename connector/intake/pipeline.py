"""Intake end to end: read -> normalise (deadlines included) -> classify -> cross-reference -> grade -> FoiCase.

``read_source`` handles one configured source; ``run_intake`` reads them all and cross-references across
them (a round robin can arrive by email, web form and WhatDoTheyKnow at once). A source that cannot be read at
all stops ``read_source`` with a clear error; ``run_intake`` records it as a reject and carries on with the
others, so one broken drop folder does not hold up the rest of the day's requests.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from connector.config import IntakeSource, Settings
from connector.errors import FoiSyncError, SourceError
from connector.intake.arrivals import merge_arrivals
from connector.intake.classify import LearnedRouter, classify_frame, load_rules
from connector.intake.crossref import CrossRefOptions, crossref_frame
from connector.intake.grade import Grade, Grader, ResponseTimeEstimator, grade_frame, load_team_calendars
from connector.intake.history import CrmHistory
from connector.intake.normalize import SOURCE, NormalizedFrame, _val, iter_cases, normalize_frame
from connector.intake.rejects import Reject, write_rejects
from connector.intake.source_mapping import SourceMapping, builtin_mapping, load_source_mapping
from connector.intake.sources import ROW, read_raw
from connector.intake.triage import Triage, load_triage_rules
from connector.model import LONDON, FoiCase, RelatedRequest, RelationKind, TriageOverride
from connector.paths import MAPPINGS_DIR

if TYPE_CHECKING:  # imported where used: intake may use deadlines (scripts/check_layers.py), at run time lazily
    from connector.deadlines.engine import DeadlineEngine

log = logging.getLogger(__name__)


@dataclass
class IntakeResult:
    """Valid cases, rejected rows, and the normalised frame behind them (deadlines, routing, grade per case)."""

    cases: list[FoiCase] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    grades: dict[str, Grade] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    rows_read: int = 0
    blank_rows: int = 0
    #: Sources that could not be read at all (each also has one reject line); the run ends with exit code 1.
    failed_sources: list[str] = field(default_factory=list)

    def write_rejects(self, path: Path | str) -> Path:
        """CSV (source,row,field,reason), one line per bad row."""
        return write_rejects(self.rejects, Path(path))

    def summary(self) -> dict[str, Any]:
        """Counts for people and for ``--json``: no requester data."""
        relations: Counter[str] = Counter()
        for case in self.cases:
            for kind in {r.relation for r in case.related}:
                relations[kind.value] += 1
        frame = self.frame
        routed = int(frame["route_method"].isin(["rule", "model"]).sum()) if "route_method" in frame else 0
        return {
            "sources": self.sources,
            "failed_sources": self.failed_sources,
            "rows_read": self.rows_read,
            "blank_rows_skipped": self.blank_rows,
            "valid": len(self.cases),
            "rejected": len(self.rejects),
            "by_regime": dict(sorted(Counter(c.regime.value for c in self.cases).items())),
            "by_channel": dict(sorted(Counter(c.channel.value for c in self.cases).items())),
            "classified_by_rules_or_model": routed,
            "with_service_area": sum(1 for c in self.cases if c.service_area),
            "repeats": relations.get(RelationKind.REPEAT.value, 0),
            "round_robins": relations.get(RelationKind.ROUND_ROBIN.value, 0),
            "aggregation_candidates": relations.get(RelationKind.AGGREGATION.value, 0),
            "answered_before": relations.get(RelationKind.ANSWERED_BEFORE.value, 0),
            "by_grade": dict(sorted(Counter(g.grade for g in self.grades.values()).items())),
            "by_triage": dict(sorted(Counter(c.triage.value for c in self.cases).items())),
            "invalid": sum(1 for c in self.cases if c.stage.value == "invalid"),
            "rerouted": sum(1 for c in self.cases if c.stage.value == "rerouted"),
            "other_arrivals_merged": sum(len(c.other_arrivals) for c in self.cases),
        }


def _source_location(source: IntakeSource, settings: Settings) -> str:
    return source.path if source.kind == "sql" else str(settings.resolve(source.path))


def _mapping_for(source: IntakeSource, mapping_path: Path | None) -> SourceMapping:
    path = mapping_path or source.mapping
    if path is not None:
        return load_source_mapping(Path(path))
    return builtin_mapping(source.kind, source.name)


def deadline_engine(settings: Settings) -> DeadlineEngine:
    from connector.deadlines import DeadlineEngine

    return DeadlineEngine.from_settings(settings)


def normalize_source(
    source: IntakeSource,
    settings: Settings,
    *,
    mapping_path: Path | None = None,
    engine: DeadlineEngine | None = None,
    now: datetime | None = None,
) -> NormalizedFrame:
    """Read and normalise one source (no classification or cross-referencing): the part the benchmark times."""
    mapping = _mapping_for(source, mapping_path)
    location = _source_location(source, settings)
    try:
        raw = read_raw(source.kind, location, mapping, source.name, source.query)
    except (FoiSyncError, MemoryError):
        raise
    except Exception as exc:  # whatever a damaged file makes a parser raise becomes a message for people
        log.debug("source %s: reader failure", source.name, exc_info=True)  # may quote cells: debug only
        where = location if source.kind != "sql" else "the database"
        raise SourceError(
            f"source '{source.name}': {where} could not be read ({type(exc).__name__}); fix: check that it opens "
            "in the program that made it and matches its mapping, or re-export it (--verbose shows the details)"
        ) from None
    return normalize_frame(
        raw, mapping, nation=settings.council.nation, now=now, engine=engine or deadline_engine(settings)
    )


def _begin(
    parts: list[NormalizedFrame],
    source_names: list[str],
    settings: Settings,
    *,
    history: pd.DataFrame | None,
    model: LearnedRouter | None,
    today: date | None,
    engine: DeadlineEngine,
    extra_rejects: list[Reject] | None = None,
    overrides: Mapping[str, TriageOverride] | None = None,
    time_model: ResponseTimeEstimator | None = None,
    crm_history: CrmHistory | None = None,
) -> PendingIntake:
    rejects: list[Reject] = list(extra_rejects or [])
    frames = []
    for part in parts:
        rejects += part.rejects
        frames.append(part.frame)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames[0] if frames else pd.DataFrame())
    result = IntakeResult(
        sources=source_names,
        rows_read=sum(p.rows_read for p in parts),
        blank_rows=sum(p.blank_rows for p in parts),
    )
    pending = PendingIntake(
        result, frame, rejects, settings, engine, history, model, today, overrides, time_model, crm_history
    )
    if frame.empty:
        return pending

    # One request, one case: the same message through several addresses or channels (connector/intake/arrivals.py).
    frame, arrivals = merge_arrivals(frame)
    frame["other_arrivals"] = [arrivals.get(i, []) for i in range(len(frame))]

    # The same reference from two sources: the first source listed keeps it.
    dup = frame["reference"].duplicated(keep="first")
    if dup.any():
        first = frame.loc[~dup].set_index("reference")
        for _, row in frame.loc[dup].iterrows():
            origin = first.loc[row["reference"]]
            rejects.append(
                Reject(
                    source=str(row[SOURCE]),
                    row=int(row[ROW]),
                    field="reference",
                    reason=f"reference '{row['reference']}' is already used by {origin[SOURCE]} row {int(origin[ROW])}; "
                    "give each request its own reference",
                )
            )
        frame = frame.loc[~dup].reset_index(drop=True)
    pending.frame = frame

    # The cases, before they are routed, cross-referenced, graded and triaged: their references and requesters are
    # final now (a migration writes the requesters meanwhile; PendingIntake.finish does the rest).
    for pos, item in iter_cases(frame):
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        pending.cases.append(item)
        pending.keep.append(pos)
    return pending


@dataclass
class PendingIntake:
    """Intake with its cases made but not yet routed, cross-referenced, graded or triaged.

    Each case's reference and requester are final here, so a migration plans and writes the requesters while
    :meth:`finish` does the rest (the same steps, in the same order, as ``run_intake``)."""

    result: IntakeResult
    frame: pd.DataFrame
    rejects: list[Reject]
    settings: Settings
    engine: DeadlineEngine
    history: pd.DataFrame | None
    model: LearnedRouter | None
    today: date | None
    overrides: Mapping[str, TriageOverride] | None
    time_model: ResponseTimeEstimator | None
    crm_history: CrmHistory | None
    cases: list[FoiCase] = field(default_factory=list)
    #: Each case's row position in the frame.
    keep: list[int] = field(default_factory=list)

    def finish(self) -> IntakeResult:
        """Route, cross-reference, grade and triage the cases (in place); -> the whole intake's result."""
        settings, frame, engine, rejects, result = self.settings, self.frame, self.engine, self.rejects, self.result
        if frame.empty:
            result.rejects = rejects
            result.frame = frame
            return result
        today = self.today or datetime.now(LONDON).date()
        rules = load_rules(settings.intake.rules) if Path(settings.intake.rules).is_file() else None
        if rules is None:
            log.warning("routing rules file %s not found: cases are not routed", settings.intake.rules)
        routed = classify_frame(frame, rules, self.model)
        for col in routed.columns:
            frame[col] = routed[col].to_numpy(object)

        options = CrossRefOptions(repeat_window_days=settings.intake.repeat_window_days)

        def working_days(regime: str, start: date, end: date) -> int:
            return int(engine.calendar(regime).working_days_between(start, end))

        links = crossref_frame(frame, self.history, options, working_days, self.crm_history)
        merged_from: list[list[str]] = [[str(a) for a in x] for x in frame["other_arrivals"].tolist()]
        grader = Grader(engine, load_team_calendars(Path(settings.intake.team_calendars)), estimator=self.time_model)
        grades = grade_frame(frame, links, grader, today)

        keep, cases = self.keep, self.cases
        areas = _cells(frame, "service_area")
        teams = _cells(frame, "assigned_team")
        for pos, case in zip(keep, cases, strict=True):
            # What routing decided (the case was made from the register's own values, before routing).
            case.service_area, case.assigned_team = areas[pos], teams[pos]
            case.related = links[pos]
            case.grade, case.grade_explanation = grades[pos].grade, grades[pos].text()[:4000]
            case.other_arrivals = merged_from[pos]
        # Triage after normalising: validity, business as usual, regime (connector/intake/triage.py, docs/triage.md).
        decisions = _triage(settings).apply(cases, self.overrides)
        decided = [
            (pos, case) for pos, case, decision in zip(keep, cases, decisions, strict=True) if decision is not None
        ]
        _set_at(frame, "regime", [p for p, _ in decided], [c.regime.value for _, c in decided])
        _set_at(frame, "stage", [p for p, _ in decided], [c.stage.value for _, c in decided])
        _set_at(frame, "service_area", [p for p, _ in decided], [c.service_area for _, c in decided])
        _set_at(frame, "assigned_team", [p for p, _ in decided], [c.assigned_team for _, c in decided])
        frame["triage"] = None
        frame["triage_explanation"] = None
        _set_at(frame, "triage", keep, [c.triage.value for c in cases])
        _set_at(frame, "triage_explanation", keep, [c.triage_explanation for c in cases])
        frame["related"] = [_links_text(x) for x in links]
        frame["grade"] = [g.grade for g in grades]
        frame["grade_score"] = [g.score for g in grades]
        frame["grade_reasons"] = [" | ".join(g.reasons) for g in grades]
        references = frame["reference"].tolist()  # frame.at costs ~10 µs a cell: a second at 100,000 cases
        result.grades = {str(references[pos]): grades[pos] for pos in keep}
        result.frame = frame.iloc[keep].reset_index(drop=True)
        for case in cases:
            _compact(case)
        result.cases = cases
        result.rejects = sorted(rejects, key=lambda r: (r.source, r.row if r.row is not None else -1))
        log.info("intake: %d valid cases, %d rejects from %d source(s)", len(cases), len(rejects), len(result.sources))
        return result


def _cells(frame: pd.DataFrame, column: str) -> list[Any]:
    """A column as the values a case is made from (``normalize._val``, as ``case_from_row`` reads them)."""
    if column not in frame:
        return [None] * len(frame)
    return [_val(v) for v in frame[column].to_numpy(object)]


def _compact(case: FoiCase) -> None:
    """Refit the case's and its requester's field-name sets: pydantic adds the names one at a time (and intake's
    assignments add more), which leaves 21 names in a 128-slot set (2.2 KB, more than the case's own dict). A copy
    holds the same names in a table sized to fit (1.2 KB): about 1.3 KB less per case, 130 MB at 100,000 cases."""
    object.__setattr__(case, "__pydantic_fields_set__", set(case.__pydantic_fields_set__))
    requester = case.requester
    object.__setattr__(requester, "__pydantic_fields_set__", set(requester.__pydantic_fields_set__))


def _set_at(frame: pd.DataFrame, column: str, positions: list[int], values: list[object]) -> None:
    """Set ``column`` at row ``positions`` in one assignment (a cell at a time costs pandas ~20 µs each)."""
    if not positions:
        return
    cells = frame[column].to_numpy(object).copy() if column in frame else np.full(len(frame), None, dtype=object)
    given = np.empty(len(values), dtype=object)
    given[:] = values
    cells[positions] = given
    frame[column] = cells


def _triage(settings: Settings) -> Triage:
    path = settings.resolve(settings.intake.triage_rules)
    if not path.is_file():
        # The shipped rules still triage (a configuration folder made before triage existed has no copy).
        log.warning("triage rules file %s not found: using the shipped mappings/triage-rules.toml", path)
        path = MAPPINGS_DIR / "triage-rules.toml"
    return Triage(load_triage_rules(path))


def _links_text(links: list[RelatedRequest]) -> str:
    return "; ".join(f"{r.relation.value}:{r.reference}:{r.score:.2f}" for r in links)


def read_source(
    source: IntakeSource,
    settings: Settings,
    *,
    mapping_path: Path | None = None,
    history: pd.DataFrame | None = None,
    model: LearnedRouter | None = None,
    today: date | None = None,
) -> IntakeResult:
    """One source, fully processed. Raises SourceError/MappingError when the source cannot be read at all."""
    return begin_source(source, settings, mapping_path=mapping_path, history=history, model=model, today=today).finish()


def begin_source(
    source: IntakeSource,
    settings: Settings,
    *,
    mapping_path: Path | None = None,
    history: pd.DataFrame | None = None,
    model: LearnedRouter | None = None,
    today: date | None = None,
) -> PendingIntake:
    """:func:`read_source` up to the cases, before routing, cross-referencing, grading and triage; ``finish()``
    does the rest. Raises SourceError/MappingError when the source cannot be read at all."""
    engine = deadline_engine(settings)
    part = normalize_source(source, settings, mapping_path=mapping_path, engine=engine)
    return _begin([part], [source.name], settings, history=history, model=model, today=today, engine=engine)


def run_intake(
    settings: Settings,
    *,
    history: pd.DataFrame | None = None,
    model: LearnedRouter | None = None,
    today: date | None = None,
    overrides: Mapping[str, TriageOverride] | None = None,
    time_model: ResponseTimeEstimator | None = None,
    crm_history: CrmHistory | None = None,
) -> IntakeResult:
    """Every source in ``settings.intake.sources``; a source that cannot be read becomes one reject line.
    ``crm_history``: every earlier request the CRM holds (connector/intake/history.py), for cross-referencing."""
    engine = deadline_engine(settings)
    parts: list[NormalizedFrame] = []
    failures: list[Reject] = []
    for source in settings.intake.sources:
        try:
            parts.append(normalize_source(source, settings, engine=engine))
        except FoiSyncError as exc:
            log.error("source %s could not be read: %s", source.name, exc)
            failures.append(Reject(source=source.name, row=None, field=None, reason=f"source not read: {exc}"))
        except Exception as exc:  # anything a damaged file can make a library raise: this source only
            log.error("source %s could not be read (%s)", source.name, type(exc).__name__)
            log.debug("source %s failure", source.name, exc_info=True)  # library text may quote cells: debug only
            failures.append(
                Reject(
                    source=source.name,
                    row=None,
                    field=None,
                    reason=f"source not read ({type(exc).__name__}); fix: check that "
                    f"{_source_location(source, settings)} opens in the program that made it and matches its "
                    "mapping, or re-export it (run with --verbose for the details)",
                )
            )
    names = [s.name for s in settings.intake.sources]
    result = _begin(
        parts,
        names,
        settings,
        history=history,
        model=model,
        today=today,
        engine=engine,
        extra_rejects=failures,
        overrides=overrides,
        time_model=time_model,
        crm_history=crm_history,
    ).finish()
    result.failed_sources = [f.source for f in failures]
    return result
