"""Statutory deadlines: working-day calendars, the rules per regime, and single-case + vectorized engines."""

from __future__ import annotations

from connector.deadlines.calendar import (
    OutOfRangeError,
    WorkingCalendar,
    nation_calendar,
    scotland_calendar,
    uk_calendar,
)
from connector.deadlines.engine import (
    CaseStatus,
    ClockInput,
    DeadlineEngine,
    DeadlineResult,
    add_months,
    fee_last_day,
)
from connector.deadlines.overrides import HolidayOverride, HolidayOverrides, load_overrides
from connector.deadlines.rules import RULES, RegimeRule, rule_for

__all__ = [
    "RULES",
    "CaseStatus",
    "ClockInput",
    "DeadlineEngine",
    "DeadlineResult",
    "HolidayOverride",
    "HolidayOverrides",
    "OutOfRangeError",
    "RegimeRule",
    "WorkingCalendar",
    "add_months",
    "fee_last_day",
    "load_overrides",
    "nation_calendar",
    "rule_for",
    "scotland_calendar",
    "uk_calendar",
]
