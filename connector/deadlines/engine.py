"""The deadline engine: statutory due dates for one case (with a plain-English explanation) or a whole DataFrame.

Two paths compute the same dates: :meth:`DeadlineEngine.compute` walks the calendar day by day in pure Python and
explains itself; :meth:`DeadlineEngine.compute_frame` uses numpy business-day functions on whole columns. The
property tests in tests/deadlines check they agree exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from connector.deadlines.calendar import (
    BUILT_YEARS,
    SUPPORTED_YEARS,
    OutOfRangeError,
    WorkingCalendar,
    fmt,
    nation_calendar,
    scotland_calendar,
    uk_calendar,
)
from connector.model import EXTENSION_EVENTS, FINISHED_STAGES, LONDON, ClockEventKind, FoiCase, Regime
from connector.rules import (
    EXTENSION_LABEL,
    LONG_OVERDUE_WORKING_DAYS,
    RULES,
    Basis,
    RegimeRule,
    add_months,
    months_beginning_with,
    months_words,
    rule_for,
)

if TYPE_CHECKING:
    import pandas as pd

    from connector.config import Settings

ReceiptRule = Literal["arrival", "next-working-day"]
ClockState = Literal["running", "stopped", "paused", "closed"]

__all__ = ["CaseStatus", "ClockInput", "DeadlineEngine", "DeadlineResult", "add_months", "fee_last_day"]


def fee_last_day(notice: date, regime: Regime = Regime.FOIA) -> date:
    """Last day to pay under a month-based fee lapse (FOIA s.9(2), FOISA s.9(4)): three months *beginning with*
    the day of the notice, so notice 6 Jan -> 5 Apr and 1 May -> 31 Jul (see :func:`months_beginning_with`).

    EIR/EISR count working days, which needs a calendar: use :meth:`DeadlineEngine.fee_last_day`.
    """
    lapse = rule_for(regime).fee_lapse
    if lapse is None or lapse.months is None:
        raise ValueError(f"{regime}: the fee lapse is not counted in months; use DeadlineEngine.fee_last_day")
    return months_beginning_with(notice, lapse.months)


@dataclass(frozen=True)
class ClockInput:
    """Everything the clock depends on, without personal data: built from a FoiCase, a CLI call or a test."""

    regime: Regime
    received: date
    received_at: datetime | None = None
    clarification_requested: date | None = None
    clarification_received: date | None = None
    fee_notice: date | None = None
    fee_paid: date | None = None
    extension: str | None = None
    extension_on: date | None = None
    extension_until: date | None = None
    extension_count: int = 0
    review_requested: date | None = None
    review_completed: date | None = None

    @classmethod
    def from_case(cls, case: FoiCase) -> ClockInput:
        """Reduce a case's clock events to the dates the rules use (the latest clarification and fees notice)."""

        def dates(kind: ClockEventKind) -> list[date]:
            return sorted(e.on for e in case.clock_events if e.kind == kind)

        clar_req, clar_rec = dates(ClockEventKind.CLARIFICATION_REQUESTED), dates(ClockEventKind.CLARIFICATION_RECEIVED)
        notices, paid = dates(ClockEventKind.FEE_NOTICE_ISSUED), dates(ClockEventKind.FEE_PAID)
        notice = notices[-1] if notices else None
        # The payment that answers the latest notice; a payment dated before it is kept so the engine flags it.
        paid_after = [p for p in paid if notice is not None and p >= notice]
        fee_paid = paid_after[0] if paid_after else (paid[-1] if paid else None)
        ext_kinds = EXTENSION_EVENTS
        exts = sorted((e for e in case.clock_events if e.kind in ext_kinds), key=lambda e: e.on)
        # Prefer the extension this regime allows; an extension it does not allow is passed on to be flagged.
        allowed = rule_for(case.regime).extension_kind
        fitting = [e for e in exts if ext_kinds[e.kind] == allowed]
        chosen = fitting or exts
        first = chosen[0] if chosen else None
        same = [e for e in chosen if first is not None and e.kind == first.kind]
        reviews = dates(ClockEventKind.INTERNAL_REVIEW_REQUESTED)
        completed = dates(ClockEventKind.INTERNAL_REVIEW_COMPLETED)
        return cls(
            regime=case.regime,
            received=case.received_date,
            received_at=case.received_at,
            clarification_requested=clar_req[-1] if clar_req else None,
            clarification_received=clar_rec[-1] if clar_rec else None,
            fee_notice=notice,
            fee_paid=fee_paid,
            extension=ext_kinds[first.kind] if first else None,
            extension_on=first.on if first else None,
            extension_until=max((e.until for e in same if e.until), default=None),
            extension_count=len(same),
            review_requested=reviews[-1] if reviews else None,
            review_completed=completed[-1] if completed else None,
        )


@dataclass
class DeadlineResult:
    """The statutory dates for one case and how they were counted."""

    regime: Regime
    day0: date
    due: date
    extended_due: date | None = None
    extension: str | None = None
    paused_working_days: int = 0
    lapsed: bool = False
    explanation: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    calendar: str = "uk"
    #: "stopped" while awaiting clarification, "paused" while a fee is unpaid (as of the date computed for).
    clock: ClockState = "running"
    #: Working days counted for the first response (None for subject access, which counts a month).
    working_days: int | None = 20
    fee_last_day: date | None = None
    #: Internal review: the normal target and the most allowed, each with its basis ("statutory" where the Act
    #: or Regulations set it, e.g. EIR reg 11(4)'s 40 working days; "guidance" for the FOIA s.45 Code's 20/40).
    review_due: date | None = None
    review_due_basis: Basis | None = None
    review_latest: date | None = None
    review_latest_basis: Basis | None = None
    #: Subject access from 5 Feb 2026 (UK GDPR Art 12A): calendar days that did not count while clarifying.
    paused_days: int = 0
    as_of: date | None = None

    @property
    def effective_due(self) -> date:
        return self.extended_due or self.due

    @property
    def start(self) -> date:
        """Alias of ``day0`` (the name docs/architecture.md uses)."""
        return self.day0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "regime": self.regime.value,
            "calendar": self.calendar,
            "day0": self.day0.isoformat(),
            "due": self.due.isoformat(),
        }
        if self.extended_due is not None:
            out["extended_due"] = self.extended_due.isoformat()
            out["extension"] = self.extension
        out.update(
            {
                "working_days": self.working_days,
                "paused_working_days": self.paused_working_days,
                "clock": self.clock,
                "lapsed": self.lapsed,
                "fee_last_day": self.fee_last_day.isoformat() if self.fee_last_day else None,
                "review_due": self.review_due.isoformat() if self.review_due else None,
                "review_due_basis": self.review_due_basis.value if self.review_due_basis else None,
                "review_latest": self.review_latest.isoformat() if self.review_latest else None,
                "review_latest_basis": self.review_latest_basis.value if self.review_latest_basis else None,
                "paused_days": self.paused_days,
                "flags": self.flags,
                "explanation": self.explanation,
            }
        )
        return out


@dataclass
class CaseStatus:
    """Where a case stands on a given day."""

    as_of: date
    elapsed: int
    remaining: int
    clock: ClockState
    rag: Literal["green", "amber", "red"]
    due_soon: bool
    overdue: bool
    overdue_beyond_40: bool
    effective_due: date
    result: DeadlineResult

    @property
    def overdue_40(self) -> bool:
        """Alias of ``overdue_beyond_40`` (the name docs/architecture.md uses)."""
        return self.overdue_beyond_40

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "elapsed": self.elapsed,
            "remaining": self.remaining,
            "clock": self.clock,
            "rag": self.rag,
            "due_soon": self.due_soon,
            "overdue": self.overdue,
            "overdue_beyond_40": self.overdue_beyond_40,
            "effective_due": self.effective_due.isoformat(),
        }


def london_today() -> date:
    return datetime.now(LONDON).date()


def _d(d: date) -> str:
    return d.isoformat()


class DeadlineEngine:
    """Statutory deadlines for every regime, with the council's receipt rule, nation and holiday overrides."""

    def __init__(
        self,
        receipt_rule: ReceiptRule = "arrival",
        nation: str = "england",
        overrides: Path | None = None,
        due_soon_working_days: int = 5,
    ) -> None:
        if receipt_rule not in ("arrival", "next-working-day"):
            raise ValueError(f"receipt_rule '{receipt_rule}' is not valid; use 'arrival' or 'next-working-day'")
        self.receipt_rule: ReceiptRule = receipt_rule
        self.nation = nation
        self.overrides = Path(overrides) if overrides is not None else None
        self.due_soon_working_days = due_soon_working_days
        self._calendars = {
            "uk": uk_calendar(self.overrides),
            "scotland": scotland_calendar(self.overrides),
            "nation": nation_calendar(nation, self.overrides),
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> DeadlineEngine:
        d = settings.deadlines
        return cls(
            receipt_rule=d.receipt_rule,
            nation=settings.council.nation,
            overrides=settings.resolve(d.holiday_overrides),
            due_soon_working_days=d.due_soon_working_days,
        )

    # ------------------------------------------------------------------ calendars

    def calendar(self, regime: Regime | str) -> WorkingCalendar:
        """The working-day calendar a regime counts in (UK union, Scotland, or the authority's nation for SAR)."""
        return self._calendars[rule_for(regime).calendar]

    # ------------------------------------------------------------------ single case

    def compute(self, case: FoiCase, *, as_of: date | None = None) -> DeadlineResult:
        """Due dates for one case. ``as_of`` (default: today in London) matters only while a fee is unpaid."""
        return self.compute_clock(ClockInput.from_case(case), as_of=as_of)

    def compute_clock(self, ci: ClockInput, *, as_of: date | None = None) -> DeadlineResult:
        rule = rule_for(ci.regime)
        cal = self.calendar(ci.regime)
        as_of = as_of or london_today()
        if ci.received.year not in SUPPORTED_YEARS:
            raise OutOfRangeError(
                f"received date {ci.received.isoformat()} is outside {SUPPORTED_YEARS.start}-"
                f"{SUPPORTED_YEARS.stop - 1}; check the year"
            )
        exp: list[str] = []
        flags: list[str] = []
        exp.append(self._rule_line(rule, cal))
        exp.append(self._receipt_line(ci, rule, cal))

        start = ci.received
        clar_rule = rule.clarification_for(ci.received)
        if ci.clarification_received is not None:
            if ci.clarification_received < ci.received:
                flags.append("clarification_before_receipt")
                exp.append(
                    f"Clarification received {fmt(ci.clarification_received)} is before the request arrived; "
                    "ignored (check the clock events)"
                )
            elif clar_rule.effect == "restart":
                start = ci.clarification_received
                exp.append(f"Clarification received {fmt(start)}: the clock restarts from zero ({clar_rule.source})")
        clock: ClockState = "running"
        awaiting = ci.clarification_requested is not None and (
            ci.clarification_received is None or ci.clarification_requested > ci.clarification_received
        )
        if awaiting and clar_rule.effect == "restart":
            assert ci.clarification_requested is not None
            clock = "stopped"
            flags.append("awaiting_clarification")
            exp.append(
                f"Clarification requested {fmt(ci.clarification_requested)}: clock stopped; it restarts from "
                "zero when the clarification arrives (dates below assume no clarification)"
            )

        if rule.months:
            return self._compute_months(ci, rule, cal, start, exp, flags, clock, as_of)

        day0 = start
        if not cal.is_working_day(start):
            what = "The clarification date" if start != ci.received else "The arrival date"
            if self.receipt_rule == "next-working-day":
                day0 = cal.next_working_day(start)
                exp.append(
                    f"{what} {fmt(start)} is not a working day; s.45 Code of Practice reading: the date of receipt "
                    f"is the next working day, {fmt(day0)} (day 0)"
                )
            elif start != ci.received:
                exp.append(f"{what} {fmt(start)} is not a working day; ICO reading: it is still day 0")
        exp.append(f"Day 1 is {fmt(cal.next_working_day(day0))}, the first working day after day 0")

        # Fees notice: working days from the notice to payment (both included) are disregarded.
        paused = 0
        pstart: date | None = None
        lapsed = False
        last_day: date | None = None
        if ci.fee_notice is not None:
            last_day = self.fee_last_day(ci.regime, ci.fee_notice)
            lapse_source = rule.fee_lapse.source if rule.fee_lapse else "no fee lapse"
            if ci.fee_paid is not None and ci.fee_paid < ci.fee_notice:
                flags.append("fee_paid_before_notice")
                exp.append(f"Fee paid {fmt(ci.fee_paid)} before the fees notice {fmt(ci.fee_notice)}; pause ignored")
            else:
                end = ci.fee_paid if ci.fee_paid is not None else as_of
                pstart = max(ci.fee_notice, day0 + timedelta(days=1))
                if end >= pstart:
                    paused = cal.working_days_between(pstart - timedelta(days=1), end)
                if ci.fee_paid is None:
                    lapsed = last_day is not None and as_of > last_day
                    if as_of >= ci.fee_notice:
                        clock = "paused" if clock == "running" else clock
                    lapse = (
                        f"the request lapses unless paid by {fmt(last_day)}"
                        if last_day is not None
                        else "the regime sets no date by which it lapses"
                    )
                    exp.append(
                        f"Fees notice {fmt(ci.fee_notice)} not yet paid: clock paused "
                        f"{paused} working days so far (to {fmt(as_of)}); {lapse} "
                        f"({rule.fee_pause_source}; {lapse_source})"
                    )
                    flags.append("fee_unpaid")
                else:
                    lapsed = last_day is not None and ci.fee_paid > last_day
                    exp.append(
                        f"Clock paused {paused} working days for the fees notice ({_d(ci.fee_notice)} to "
                        f"{_d(ci.fee_paid)}) ({rule.fee_pause_source})"
                    )
                if lapsed and last_day is not None:
                    flags.append("fee_lapsed")
                    exp.append(
                        f"Fee not paid in time (last day {fmt(last_day)}; {lapse_source}): the authority "
                        "need not comply"
                    )

        def nth(n: int) -> date:
            plain = cal.add_working_days(day0, n)
            if paused and pstart is not None and pstart <= plain:
                return cal.add_working_days(day0, n + paused)
            return plain

        limit = rule.limit.days
        due = nth(limit)
        effective_pause = paused if pstart is not None and paused and pstart <= cal.add_working_days(day0, limit) else 0
        if paused and not effective_pause:
            exp.append("The fees notice came after the due date, so the pause does not move it")
        ext_lines: list[str] = []
        extended_due, extension = self._extension(ci, rule, due, nth, ext_lines, flags)

        end_for_skips = extended_due or due
        skipped = cal.holidays_between(day0, end_for_skips)
        if skipped:
            exp.append("Skipped: " + ", ".join(f"{d.day} {d:%b %Y} {name}" for d, name in skipped))
        exp.append(
            f"Due: day {limit} is {fmt(due)}" + (f" (after {effective_pause} paused days)" if effective_pause else "")
        )
        exp.extend(ext_lines)

        result = DeadlineResult(
            regime=ci.regime,
            day0=day0,
            due=due,
            extended_due=extended_due,
            extension=extension,
            paused_working_days=effective_pause,
            lapsed=lapsed,
            explanation=exp,
            flags=flags,
            calendar=cal.name,
            clock=clock,
            working_days=limit,
            fee_last_day=last_day,
            as_of=as_of,
        )
        self._review(ci, rule, cal, result)
        return result

    def fee_last_day(self, regime: Regime | str, notice: date) -> date | None:
        """Last day to pay a fee before the request lapses: the one rule the engine and the letters both use.

        FOIA s.9(2) / FOISA s.9(4): three months beginning with the day of the notice; EIR/EISR reg 8: 60
        working days after it. None where the regime has no fee lapse (subject access).
        """
        lapse = rule_for(regime).fee_lapse
        if lapse is None:
            return None
        if lapse.working_days is not None:
            return self.calendar(regime).add_working_days(notice, lapse.working_days)
        return months_beginning_with(notice, lapse.months or 0)

    def _compute_months(
        self,
        ci: ClockInput,
        rule: RegimeRule,
        cal: WorkingCalendar,
        start: date,
        exp: list[str],
        flags: list[str],
        clock: ClockState,
        as_of: date,
    ) -> DeadlineResult:
        """Month-based limits (subject access): the ICO's corresponding-date counting, rolled to a working day."""
        if ci.fee_paid is not None and ci.fee_paid > start:
            start = ci.fee_paid
            exp.append(f"Fee received {fmt(start)}: the month runs from then (UK GDPR Art 12A)")
        if self.receipt_rule == "next-working-day" and not cal.is_working_day(start):
            exp.append(
                "The receipt rule setting does not apply to subject access: the ICO counts from the day of receipt"
            )
        if start != ci.received:
            exp.append(f"Day 0 is {fmt(start)}, whether or not it is a working day (ICO)")
        limit_months = rule.limit.months or 1
        paused = 0
        clar_rule = rule.clarification_for(ci.received)
        if clar_rule.effect == "pause" and ci.clarification_requested is not None:
            asked = ci.clarification_requested
            answered = ci.clarification_received
            if answered is not None and answered < asked:
                answered = None  # an older reply answers an older question: this one is still awaited
            end = answered if answered is not None else as_of
            if asked > add_months(start, limit_months):
                exp.append(f"Clarification requested {fmt(asked)}, after the time limit had run; no pause")
            elif end >= asked:
                paused = (end - asked).days + 1
            if answered is None:
                clock = "paused"
                flags.append("awaiting_clarification")
                exp.append(
                    f"Clarification requested {fmt(asked)} and not yet received: {paused} days so far do not count "
                    f"(to {fmt(as_of)}; {clar_rule.source})"
                )
            elif paused:
                exp.append(
                    f"Clarification requested {fmt(asked)}, received {fmt(answered)}: {paused} days do not count "
                    f"({clar_rule.source})"
                )
        elif clar_rule.effect == "pause" and ci.clarification_received is not None:
            flags.append("clarification_request_date_missing")
            exp.append(
                "A clarification was received but the date it was asked for is unknown, so no days are left out; "
                "add the clarification_requested event"
            )

        def month_end(months: int) -> date:
            raw = add_months(start, months)
            if paused:
                raw += timedelta(days=paused)
            rolled = cal.roll_forward(raw)
            what = "one month" if months == 1 else f"{months} months"
            if raw.day != start.day and not paused:
                exp.append(
                    f"{what.capitalize()} on: there is no {start.day} {raw:%b %Y}, so the last day of that month, "
                    f"{fmt(raw)}"
                )
            if paused:
                exp.append(f"{what.capitalize()} on, plus {paused} days that do not count: {fmt(raw)}")
            if rolled != raw:
                name = cal.holiday_name(raw) or raw.strftime("%A")
                exp.append(f"{fmt(raw)} is not a working day ({name}): moved to the next working day, {fmt(rolled)}")
            return rolled

        due = month_end(limit_months)
        calendar_months = months_words(limit_months).replace(" month", " calendar month")
        exp.append(f"Due: {fmt(due)} ({calendar_months}, {rule.limit.source.split(';')[0]})")
        extended_due: date | None = None
        extension: str | None = None
        if ci.extension is not None:
            if rule.extension is None or ci.extension != rule.extension.kind:
                flags.append(f"extension_{ci.extension}_not_available")
                exp.append(
                    f"A {EXTENSION_LABEL.get(ci.extension, ci.extension)} does not apply to {rule.label}; ignored"
                )
            else:
                extension = rule.extension.kind
                total = rule.extension.total.months or limit_months
                extended_due = month_end(total)
                further = months_words(total - limit_months).replace(" month", " further month")
                exp.append(f"Extended due: {fmt(extended_due)} ({further}, {rule.extension_source})")
                if ci.extension_on is not None and ci.extension_on > due:
                    flags.append("extension_notified_late")
                    exp.append(
                        f"The extension was notified after the first {rule.limit.words}; the requester must be told "
                        "within it"
                    )
        return DeadlineResult(
            regime=ci.regime,
            day0=start,
            due=due,
            extended_due=extended_due,
            extension=extension,
            explanation=exp,
            flags=flags,
            calendar=cal.name,
            clock=clock,
            working_days=None,
            paused_days=paused,
            as_of=as_of,
        )

    def _extension(
        self, ci: ClockInput, rule: RegimeRule, due: date, nth: Callable[[int], date], exp: list[str], flags: list[str]
    ) -> tuple[date | None, str | None]:
        if ci.extension is None:
            return None, None
        ext = rule.extension
        if ext is None or ci.extension != ext.kind:
            flags.append(f"extension_{ci.extension}_not_available")
            exp.append(
                f"A {EXTENSION_LABEL.get(ci.extension, ci.extension)} is not available under {rule.label} "
                f"({rule.extension_source}); ignored"
            )
            return None, None
        total = ext.total.days
        d_total = nth(total)
        extended = d_total
        if ext.expected_extra is not None and ci.extension_until is not None:
            # A "reasonable" extension (FOIA s.10(3)): the estimated date given to the requester (s.17(2)).
            extended = ci.extension_until
            exp.append(f"Extended due: {fmt(extended)}, the estimated decision date given (FOIA s.17(2))")
            if ci.extension_until > d_total:
                flags.append("pit_beyond_40")
                exp.append(
                    f"Beyond the ICO's expectation of {ext.expected_extra.words} further (day {total} is "
                    f"{fmt(d_total)}): only exceptional cases justify it"
                )
        else:
            exp.append(f"Extended due: day {total} is {fmt(d_total)} ({ext.source})")
            if ext.expected_extra is None and ci.extension_count > 1:
                flags.append("eir_extended_more_than_once")
                exp.append("The regulation 7 extension can be taken once; later extensions are ignored")
        if ci.extension_on is not None and ci.extension_on > due:
            flags.append("extension_notified_late")
            exp.append(
                f"The extension was notified on {fmt(ci.extension_on)}, after the {rule.limit.words} due date; "
                f"it must be notified within the {rule.limit.words}"
            )
        return extended, ci.extension

    def _review(self, ci: ClockInput, rule: RegimeRule, cal: WorkingCalendar, result: DeadlineResult) -> None:
        review = rule.review
        if ci.review_requested is None or review is None:
            return
        rday0 = ci.review_requested
        if self.receipt_rule == "next-working-day" and not cal.is_working_day(rday0):
            rday0 = cal.next_working_day(rday0)
        result.review_due = cal.add_working_days(rday0, review.target.days)
        result.review_due_basis = review.target.basis
        result.review_latest = cal.add_working_days(rday0, review.limit.days)
        result.review_latest_basis = review.limit.basis
        result.explanation.append(
            f"{review.name.capitalize()} requested {fmt(ci.review_requested)}: due {fmt(result.review_due)} "
            f"({review.target.words}, {review.target.basis.value}: {review.target.source}), at the latest "
            f"{fmt(result.review_latest)} ({review.limit.words}, {review.limit.basis.value}: {review.limit.source})"
        )
        if ci.review_completed is not None and ci.review_completed > result.review_latest:
            result.flags.append("review_late")

    def _rule_line(self, rule: RegimeRule, cal: WorkingCalendar) -> str:
        return f"{rule.limit_source}; non-working days: {cal.description}"

    def _receipt_line(self, ci: ClockInput, rule: RegimeRule, cal: WorkingCalendar) -> str:
        d = ci.received
        when = f"Received {fmt(d)}"
        if ci.received_at is not None:
            local = ci.received_at.astimezone(LONDON)
            when += f" {local:%H:%M} London time"
            if ci.received_at.utcoffset() != local.utcoffset() and ci.received_at.date() != d:
                when += f" (given as {ci.received_at.isoformat()}; the date is taken in Europe/London)"
        restarted = ci.clarification_received is not None and ci.clarification_received >= ci.received
        if cal.is_working_day(d):
            return when + (" (a working day)" if restarted else " (a working day; it is day 0)")
        what = cal.holiday_name(d) or "weekend"
        if rule.months:
            return when + f" (non-working day: {what}; subject access counts from the day of receipt)"
        if self.receipt_rule == "arrival":
            return when + f" (non-working day: {what}; ICO reading: day 0 is the arrival date)"
        return when + f" (non-working day: {what})"

    # ------------------------------------------------------------------ status

    def status(self, case: FoiCase, today: date | None = None) -> CaseStatus:
        """Working days elapsed and remaining, clock state, due soon / overdue / beyond 40 on ``today``."""
        today = today or london_today()
        ci = ClockInput.from_case(case)
        r = self.compute_clock(ci, as_of=today)
        closed = case.is_closed or case.responded_at is not None or case.stage in FINISHED_STAGES
        return self.status_for(r, ci, today, closed=closed, responded=case.responded_date)

    def status_for(
        self, r: DeadlineResult, ci: ClockInput, today: date, *, closed: bool = False, responded: date | None = None
    ) -> CaseStatus:
        cal = self.calendar(r.regime)
        rule = rule_for(r.regime)
        t = responded if (closed and responded is not None) else today
        clock: ClockState = "closed" if closed else r.clock
        effective = r.effective_due

        if clock == "stopped" and ci.clarification_requested is not None:
            elapsed = max(0, cal.working_days_between(r.day0, min(t, ci.clarification_requested)))
            if rule.months:
                remaining = cal.working_days_between(t, cal.roll_forward(add_months(t, 1)))
            else:
                remaining = rule.limit.days
            overdue = False
        else:
            elapsed = cal.working_days_between(r.day0, t) if t > r.day0 else 0
            if ci.fee_notice is not None and r.paused_working_days and not rule.months:
                pstart = max(ci.fee_notice, r.day0 + timedelta(days=1))
                pend = min(ci.fee_paid or t, t)
                if pend >= pstart:
                    elapsed -= cal.working_days_between(pstart - timedelta(days=1), pend)
            elapsed = max(0, elapsed)
            remaining = cal.working_days_between(t, effective)
            overdue = t > effective and not (closed and responded is None)
        due_soon = clock in ("running", "paused") and not overdue and 0 <= remaining <= self.due_soon_working_days
        beyond = overdue and elapsed > LONG_OVERDUE_WORKING_DAYS
        rag: Literal["green", "amber", "red"] = "red" if overdue else ("amber" if due_soon else "green")
        return CaseStatus(
            as_of=today,
            elapsed=elapsed,
            remaining=remaining,
            clock=clock,
            rag=rag,
            due_soon=due_soon,
            overdue=overdue,
            overdue_beyond_40=beyond,
            effective_due=effective,
            result=r,
        )

    # ------------------------------------------------------------------ vectorized

    def compute_frame(self, df: pd.DataFrame, *, as_of: date | None = None) -> pd.DataFrame:
        """Vectorized :meth:`compute` for a DataFrame of cases; same answers, numpy business-day functions.

        Input columns: ``regime``; ``received_at`` (tz-aware datetimes or ISO strings with an offset; a bare date
        is a London date); optional ``clarification_received``, ``clarification_requested`` (needed for subject
        access received from 5 Feb 2026, when a clarification pauses the month), ``fee_notice``, ``fee_paid``, ``extension``
        (pit|eir|sar), ``extension_until``. Output (same index): ``day0``, ``due``, ``extended_due``
        (datetime64[ns], NaT when none), ``paused_working_days``, ``lapsed`` and ``error`` (None when the row is
        fine; rows with an error get NaT dates and never stop the others).
        """
        import pandas as pd  # here, not at import time: the CLI and letters need no pandas

        as_of_d = np.datetime64(as_of or london_today(), "D")
        n = len(df)
        errors = np.full(n, None, dtype=object)
        regime = df["regime"].astype("string").str.strip().str.lower().to_numpy(dtype=object, na_value="")
        received, bad = _london_days(df["received_at"])
        errors[bad] = "received_at is missing, unreadable or has no time zone; give an ISO time with an offset"
        lo, hi = np.datetime64(f"{SUPPORTED_YEARS.start}-01-01"), np.datetime64(f"{SUPPORTED_YEARS.stop}-01-01")
        out_of_range = ~np.isnat(received) & ((received < lo) | (received >= hi))
        errors[out_of_range] = f"received_at is outside {SUPPORTED_YEARS.start}-{SUPPORTED_YEARS.stop - 1}"
        known = np.isin(regime, [r.value for r in Regime])
        errors[~known & ~bad & ~out_of_range] = f"regime is not one of {', '.join(r.value for r in Regime)}"
        ok = known & ~bad & ~out_of_range

        clar = _opt_days(df, "clarification_received", n)
        clar_req = _opt_days(df, "clarification_requested", n)
        notice = _opt_days(df, "fee_notice", n)
        paid = _opt_days(df, "fee_paid", n)
        until = _opt_days(df, "extension_until", n)
        cal_lo, cal_hi = np.datetime64(f"{BUILT_YEARS.start}-01-01"), np.datetime64(f"{BUILT_YEARS.stop - 1}-07-01")
        dated = (
            ("clarification_received", clar),
            ("clarification_requested", clar_req),
            ("fee_notice", notice),
            ("fee_paid", paid),
        )
        for name, col in dated:
            wild = ok & ~np.isnat(col) & ((col < cal_lo) | (col > cal_hi))
            errors[wild] = f"{name} is outside the years the calendars cover; check the date"
            ok &= ~wild
        if "extension" in df:
            ext = df["extension"].astype("string").str.strip().str.lower().to_numpy(dtype=object, na_value="")
        else:
            ext = np.full(n, "", dtype=object)

        nat = np.datetime64("NaT", "D")
        day0 = np.full(n, nat)
        due = np.full(n, nat)
        extended = np.full(n, nat)
        paused_out = np.zeros(n, dtype=np.int64)
        lapsed = np.zeros(n, dtype=bool)
        fill = np.datetime64("2000-01-03", "D")

        for reg, rule in RULES.items():
            rows = np.nonzero(ok & (regime == reg.value))[0]
            if rows.size == 0:
                continue
            bdc = self._calendars[rule.calendar].busdaycal
            r0 = received[rows]
            # Which clarification rule applies depends on the date of receipt (UK GDPR Art 12A from 5 Feb 2026).
            pause = np.zeros(rows.size, dtype=bool)
            for c in rule.clarifications:
                applies = r0 >= np.datetime64(c.applies_from, "D") if c.applies_from else np.ones(rows.size, bool)
                pause = np.where(applies, c.effect == "pause", pause)
            cl = clar[rows]
            restart = ~pause & ~np.isnat(cl) & (cl >= r0)
            s = np.where(restart, cl, r0)
            e = ext[rows]
            ext_rule = rule.extension
            if rule.months:
                months = rule.limit.months or 1
                fp = paid[rows]
                later = ~np.isnat(fp) & (fp > s)
                s = np.where(later, fp, s)
                d0 = s
                asked = clar_req[rows]
                answered = ~np.isnat(cl) & (cl >= asked)
                end = np.where(answered, cl, as_of_d)
                counted = pause & ~np.isnat(asked) & (asked <= _add_months(s, months)) & (end >= asked)
                gap = np.where(counted, (np.where(counted, end, fill) - np.where(counted, asked, fill)), 0)
                extra = np.where(counted, gap.astype(np.int64) + 1, 0).astype("timedelta64[D]")
                due_g = np.busday_offset(_add_months(s, months) + extra, 0, roll="forward", busdaycal=bdc)
                if ext_rule is not None:
                    total = ext_rule.total.months or months
                    ext_due = np.busday_offset(_add_months(s, total) + extra, 0, roll="forward", busdaycal=bdc)
                    ext_g = np.where(e == ext_rule.kind, ext_due, nat)
                else:
                    ext_g = np.full(rows.size, nat)
                p_g = np.zeros(rows.size, dtype=np.int64)
                lapsed_g = np.zeros(rows.size, dtype=bool)
            else:
                if self.receipt_rule == "next-working-day":
                    d0 = np.where(
                        np.is_busday(s, busdaycal=bdc), s, np.busday_offset(s, 1, roll="backward", busdaycal=bdc)
                    )
                else:
                    d0 = s
                limit = rule.limit.days
                d_lim = np.busday_offset(d0, limit, roll="backward", busdaycal=bdc)
                f = notice[rows]
                fp = paid[rows]
                has_fee = ~np.isnat(f) & ~(~np.isnat(fp) & (fp < f))
                end = np.where(np.isnat(fp), as_of_d, fp)
                pstart = np.maximum(np.where(has_fee, f, fill), d0 + 1)
                end_f = np.where(has_fee, end, fill)
                counting = has_fee & (end_f >= pstart)
                p_all = np.where(
                    counting,
                    np.busday_count(
                        np.where(counting, pstart, fill), np.where(counting, end_f + 1, fill), busdaycal=bdc
                    ),
                    0,
                ).astype(np.int64)
                applies_lim = (p_all > 0) & (pstart <= d_lim)
                due_g = np.where(
                    applies_lim, np.busday_offset(d0, limit + p_all, roll="backward", busdaycal=bdc), d_lim
                )
                p_g = np.where(applies_lim, p_all, 0)
                if ext_rule is not None:
                    total = ext_rule.total.days
                    d_tot = np.busday_offset(d0, total, roll="backward", busdaycal=bdc)
                    applies_tot = (p_all > 0) & (pstart <= d_tot)
                    e_tot = np.where(
                        applies_tot, np.busday_offset(d0, total + p_all, roll="backward", busdaycal=bdc), d_tot
                    )
                    if ext_rule.expected_extra is not None:  # "reasonable" time: the date given, if any
                        u = until[rows]
                        e_tot = np.where(np.isnat(u), e_tot, u)
                    ext_g = np.where(e == ext_rule.kind, e_tot, nat)
                else:
                    ext_g = np.full(rows.size, nat)
                f_fill = np.where(has_fee, f, fill)
                lapse = rule.fee_lapse
                if lapse is None:
                    lapsed_g = np.zeros(rows.size, dtype=bool)
                else:
                    if lapse.working_days is not None:
                        last = np.busday_offset(f_fill, lapse.working_days, roll="backward", busdaycal=bdc)
                    else:
                        last = _months_beginning_with(f_fill, lapse.months or 0)
                    lapsed_g = has_fee & np.where(np.isnat(fp), as_of_d > last, fp > last)
            day0[rows] = d0
            due[rows] = due_g
            extended[rows] = ext_g
            paused_out[rows] = p_g
            lapsed[rows] = lapsed_g

        return pd.DataFrame(
            {
                "day0": day0.astype("datetime64[ns]"),
                "due": due.astype("datetime64[ns]"),
                "extended_due": extended.astype("datetime64[ns]"),
                "paused_working_days": paused_out,
                "lapsed": lapsed,
                "error": pd.Series(errors, dtype=object, index=df.index),
            },
            index=df.index,
        )


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HAS_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


def _london_days(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Europe/London calendar dates of timestamps (datetime64[D]) and a mask of unusable rows."""
    import pandas as pd

    n = len(col)
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        local = col.dt.tz_convert(LONDON).dt.tz_localize(None)
        days = local.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        return days, np.isnat(days)
    if pd.api.types.is_datetime64_dtype(col.dtype):
        return np.full(n, np.datetime64("NaT", "D")), np.ones(n, dtype=bool)  # naive: refuse, like FoiCase
    text = col.astype("string").str.strip()
    days = np.full(n, np.datetime64("NaT", "D"))
    date_only = text.str.match(_DATE_ONLY.pattern).fillna(False).to_numpy(dtype=bool)
    with_offset = text.str.contains(_HAS_OFFSET.pattern, regex=True).fillna(False).to_numpy(dtype=bool)
    # Python datetime objects (object dtype) carry their own zone: let pandas convert them.
    if col.dtype == object:
        aware = col.map(lambda v: isinstance(v, datetime) and v.tzinfo is not None).to_numpy(dtype=bool)
        with_offset |= aware
        plain_dates = col.map(lambda v: isinstance(v, date) and not isinstance(v, datetime)).to_numpy(dtype=bool)
        date_only |= plain_dates
    else:
        aware = np.zeros(n, dtype=bool)
        plain_dates = np.zeros(n, dtype=bool)
    if with_offset.any():
        src = col[with_offset]
        parsed = pd.to_datetime(
            src if aware[with_offset].all() else src.astype(str), utc=True, errors="coerce", format="ISO8601"
        )
        days[with_offset] = (
            parsed.dt.tz_convert(LONDON).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        )
    only = date_only & ~with_offset
    if only.any():
        src = col[only]
        days[only] = (
            pd.to_datetime(src.astype(str), errors="coerce", format="ISO8601")
            .to_numpy(dtype="datetime64[ns]")
            .astype("datetime64[D]")
        )
    return days, np.isnat(days)


def _opt_days(df: pd.DataFrame, name: str, n: int) -> np.ndarray:
    """An optional date column as datetime64[D] (NaT when absent or empty); tz-aware values taken in London."""
    import pandas as pd

    if name not in df:
        return np.full(n, np.datetime64("NaT", "D"))
    col = df[name]
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        col = col.dt.tz_convert(LONDON).dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(col.dtype):
        col = pd.to_datetime(col.astype("string"), errors="coerce", format="ISO8601")
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            col = col.dt.tz_convert(LONDON).dt.tz_localize(None)
    return col.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")


def _add_months(d: np.ndarray, months: int) -> np.ndarray:
    """Vectorized :func:`add_months`: the corresponding date, clamped to the month's last day."""
    month_start = d.astype("datetime64[M]")
    day = (d - month_start.astype("datetime64[D]")).astype(np.int64)
    target = month_start + months
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    out: np.ndarray = target.astype("datetime64[D]") + np.minimum(day, length - 1)
    return out


def _months_beginning_with(d: np.ndarray, months: int) -> np.ndarray:
    """Vectorized :func:`connector.rules.months_beginning_with`: the day before the corresponding date, or the
    last day of the month when it has no corresponding date."""
    month_start = d.astype("datetime64[M]")
    day = (d - month_start.astype("datetime64[D]")).astype(np.int64)
    target = month_start + months
    first = target.astype("datetime64[D]")
    length = ((target + 1).astype("datetime64[D]") - first).astype(np.int64)
    out: np.ndarray = np.where(day < length, first + day - 1, first + length - 1)
    return out
