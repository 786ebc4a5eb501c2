"""Officer assignment: a new case goes to the officer of its routed team with the fewest open cases, skipping anyone
on leave, and is pushed with them as its assigned officer (lookup to the user) or owner, as the target mapping says.

Who the officers are, and their leave, is in the team calendars the grade already reads
(``mappings/team-calendars.toml``, ``[[team.officer]]`` with ``[[team.officer.leave]]``). Open workload is what the
CRM holds, from the local mirror the pull maintains (cases with no response and not closed, counted by assigned
officer), plus the cases this run has just assigned. Ties go to the officer listed first. Only new cases are
assigned (once created, the officer is the CRM's to change: ``owner = "crm"``), and a case that already names an
officer (the register said so) keeps them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

import pandas as pd

from connector.config import Settings
from connector.intake.grade import TeamCalendars
from connector.intake.source_mapping import fold
from connector.model import CLOSED_STAGES, FoiCase
from connector.sync.mapping import TargetMapping
from connector.sync.state import StateStore

log = logging.getLogger(__name__)

FINISHED = {s.value for s in CLOSED_STAGES}


@dataclass(frozen=True)
class Assignment:
    reference: str
    team: str
    officer: str
    #: Open cases the officer had before this one (for the run log and the tests: no requester data).
    open_before: int
    skipped_on_leave: tuple[str, ...]


def open_workload(mirror: pd.DataFrame) -> Counter[str]:
    """Open cases per officer (folded name) in the reporting mirror: no response date and not closed."""
    if mirror.empty or "assigned_officer" not in mirror:
        return Counter()
    stage = mirror["stage"].fillna("received")
    open_ = mirror[mirror["responded_date"].isna() & ~stage.isin(FINISHED) & mirror["assigned_officer"].notna()]
    return Counter(fold(str(o)) for o in open_["assigned_officer"])


def assign_officers(
    cases: Iterable[FoiCase],
    calendars: TeamCalendars,
    workload: Counter[str],
    today: date,
    is_new: Callable[[FoiCase], bool],
) -> list[Assignment]:
    """Set ``assigned_officer`` on each new, open case of a team with officers; -> what was assigned."""
    load = Counter(workload)
    out: list[Assignment] = []
    for case in cases:
        if case.assigned_officer or not case.assigned_team or case.stage.value in FINISHED or not is_new(case):
            continue
        team = calendars.team_named(case.assigned_team)
        if team is None or not team.officer:
            continue
        candidates = [o for o in team.officer if o.assign]
        away = tuple(o.name for o in candidates if o.on_leave(today))
        present = [o for o in candidates if not o.on_leave(today)]
        if not present:
            log.warning("officer assignment: every officer of the team is on leave", extra={"team": team.name})
            continue
        # Fewest open cases first; equal workloads go to the officer listed first in the calendar.
        chosen = min(present, key=lambda o: load[fold(o.name)])
        before = load[fold(chosen.name)]
        case.assigned_officer = chosen.name
        load[fold(chosen.name)] += 1
        out.append(Assignment(case.reference, team.name, chosen.name, before, away))
    return out


#: The warning when officers should be assigned but the target mapping has nowhere to put them.
NO_OFFICER_FIELD = (
    "sync.assign_officers is on but the target mapping has no [fields.assigned_officer]: no officer assigned"
)


def assign_new_cases(
    settings: Settings, mapping: TargetMapping, state: StateStore, cases: list[FoiCase], today: date
) -> tuple[list[Assignment] | None, list[str]]:
    """The sync's officer stage: officers for the cases the state has never pushed, when ``sync.assign_officers``
    is on and the mapping has the field, with the open workload from the pull's mirror.

    -> (the assignments, or None when assignment did not run at all; warnings)."""
    if not settings.sync.assign_officers or not cases:
        return None, []
    if "assigned_officer" not in mapping.fields:
        return None, [NO_OFFICER_FIELD]
    from connector.intake.grade import load_team_calendars
    from connector.reporting import ReportingStore

    calendars = load_team_calendars(settings.intake.team_calendars)
    if not any(t.officer for t in calendars.team):
        return None, []

    def is_new(case: FoiCase) -> bool:
        try:
            return state.get(mapping.table, mapping.source_key(case)) is None
        except ValueError:
            return False  # no usable key: the plan rejects it anyway

    with ReportingStore(settings.report.store_path) as store:
        workload = open_workload(store.frame())
    return assign_officers(cases, calendars, workload, today, is_new), []
