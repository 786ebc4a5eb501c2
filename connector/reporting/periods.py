"""Report periods: which requests a report counts, by their date of receipt.

Quarters are calendar quarters, as in the Cabinet Office FOI statistics ("Q1 2020" = January to March),
not UK financial-year quarters. A request belongs to the period in which it was received.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from connector.errors import ConfigError

_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_QUARTER_CO = re.compile(r"^Q([1-4])\s+(\d{4})$", re.IGNORECASE)  # Cabinet Office spelling "Q1 2020"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")

PERIOD_HELP = "use 2025-Q1 (calendar quarter), 2025-03 (month), 2025 (year), or --from/--to dates (YYYY-MM-DD)"


@dataclass(frozen=True)
class Period:
    """An inclusive range of receipt dates; ``start``/``end`` None means open-ended (all cases)."""

    start: date | None
    end: date | None
    label: str

    def contains(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    @property
    def slug(self) -> str:
        """File-name-safe label."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.label).strip("_") or "all"


def _quarter(year: int, q: int) -> Period:
    start = date(year, 3 * q - 2, 1)
    end = (date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)) - timedelta(days=1)
    return Period(start, end, f"{year}-Q{q}")


def parse_period(text: str) -> Period:
    """Parse ``2025-Q1``, ``Q1 2025``, ``2025-03`` or ``2025``; raise ConfigError naming the fix."""
    value = text.strip()
    if m := _QUARTER.match(value):
        return _quarter(int(m.group(1)), int(m.group(2)))
    if m := _QUARTER_CO.match(value):
        return _quarter(int(m.group(2)), int(m.group(1)))
    if m := _MONTH.match(value):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ConfigError(f"period '{text}': month {month} does not exist; {PERIOD_HELP}")
        nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return Period(date(year, month, 1), nxt - timedelta(days=1), f"{year}-{month:02d}")
    if m := _YEAR.match(value):
        year = int(m.group(1))
        return Period(date(year, 1, 1), date(year, 12, 31), str(year))
    raise ConfigError(f"period '{text}' is not understood; {PERIOD_HELP}")


def _parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{option} '{text}' is not a date; write it as YYYY-MM-DD, e.g. 2025-01-31") from None


def make_period(
    period: str | Period | None = None, date_from: str | date | None = None, date_to: str | date | None = None
) -> Period:
    """One Period from the CLI/library arguments; ``period`` and ``from/to`` are mutually exclusive."""
    if isinstance(period, Period):
        return period
    if period and (date_from or date_to):
        raise ConfigError("give either --period or --from/--to, not both")
    if period:
        return parse_period(period)
    start = _parse_date(date_from, "--from") if isinstance(date_from, str) else date_from
    end = _parse_date(date_to, "--to") if isinstance(date_to, str) else date_to
    if start and end and end < start:
        raise ConfigError(f"--to {end} is before --from {start}; swap them")
    if start is None and end is None:
        return Period(None, None, "all")
    label = f"{start.isoformat() if start else 'start'}_to_{end.isoformat() if end else 'latest'}"
    return Period(start, end, label)


def quarter_label(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
