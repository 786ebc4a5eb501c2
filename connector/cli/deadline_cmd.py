"""``foi-sync deadline``: the due date for one request, explained, for officers and for checks."""

from __future__ import annotations

import json
from datetime import date, datetime

import click

from connector.cli import AppContext
from connector.model import LONDON, Regime


def _parse_received(value: str) -> tuple[date, datetime | None]:
    """A date (taken as the London date) or an ISO date-time (no offset: London local time)."""
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text), None
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a date or date-time; use e.g. 2025-01-06 or 2025-03-31T23:30:00+00:00",
            param_hint="--received",
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=LONDON)
    return dt.astimezone(LONDON).date(), dt


class _Date(click.ParamType[date]):
    name = "DATE"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"'{value}' is not a date; write it as YYYY-MM-DD, e.g. 2025-01-06", param, ctx)


DATE = _Date()


@click.command(name="deadline")
@click.option("--regime", required=True, type=click.Choice([r.value for r in Regime]), help="Statutory regime.")
@click.option("--received", "received", required=True, metavar="DATETIME", help="When the request arrived.")
@click.option(
    "--nation",
    type=click.Choice(["england", "wales", "scotland", "northern-ireland"]),
    default=None,
    help="The authority's nation (subject access holidays). Default: council.nation from the config.",
)
@click.option("--clarification-requested", type=DATE, default=None, help="Date clarification was asked for.")
@click.option("--clarification-received", type=DATE, default=None, help="Date the clarification arrived.")
@click.option("--fee-notice", type=DATE, default=None, help="Date the fees notice was given.")
@click.option("--fee-paid", type=DATE, default=None, help="Date the fee was received.")
@click.option("--extension", type=click.Choice(["pit", "eir", "sar"]), default=None, help="Extension taken.")
@click.option("--extension-until", type=DATE, default=None, help="PIT: the estimated decision date given.")
@click.option("--review-requested", type=DATE, default=None, help="Date an internal review was asked for.")
@click.option(
    "--receipt-rule",
    type=click.Choice(["arrival", "next-working-day"]),
    default=None,
    help="Receipt on a non-working day: arrival (ICO) or next-working-day (s.45 Code). Default: from config.",
)
@click.option("--as-of", type=DATE, default=None, help="Show the status on this date (default: today in London).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (due, extended_due, ...).")
@click.pass_obj
def deadline(
    obj: AppContext | None,
    regime: str,
    received: str,
    nation: str | None,
    clarification_requested: date | None,
    clarification_received: date | None,
    fee_notice: date | None,
    fee_paid: date | None,
    extension: str | None,
    extension_until: date | None,
    review_requested: date | None,
    receipt_rule: str | None,
    as_of: date | None,
    as_json: bool,
) -> None:
    """Compute a statutory due date and explain the count."""
    from connector.deadlines import ClockInput, DeadlineEngine, OutOfRangeError
    from connector.deadlines.calendar import fmt
    from connector.deadlines.engine import london_today

    # Run from `foi-sync` the config gives the defaults; run on its own (a test, a library) the law's defaults do.
    settings = obj.settings if obj is not None else None
    received_date, received_at = _parse_received(received)
    if fee_paid is not None and fee_notice is None:
        raise click.BadParameter("--fee-paid needs --fee-notice (the date the fees notice was given)")
    if extension_until is not None and extension != "pit":
        raise click.BadParameter("--extension-until is the PIT estimate; use it with --extension pit")
    engine = DeadlineEngine(
        receipt_rule=receipt_rule or (settings.deadlines.receipt_rule if settings else "arrival"),  # type: ignore[arg-type]
        nation=nation or (settings.council.nation if settings else "england"),
        overrides=settings.resolve(settings.deadlines.holiday_overrides) if settings else None,
        due_soon_working_days=settings.deadlines.due_soon_working_days if settings else 5,
    )
    ci = ClockInput(
        regime=Regime(regime),
        received=received_date,
        received_at=received_at,
        clarification_requested=clarification_requested,
        clarification_received=clarification_received,
        fee_notice=fee_notice,
        fee_paid=fee_paid,
        extension=extension,
        extension_until=extension_until,
        extension_count=1 if extension else 0,
        review_requested=review_requested,
    )
    today = as_of or london_today()
    try:
        result = engine.compute_clock(ci, as_of=today)
    except OutOfRangeError as exc:
        raise click.BadParameter(str(exc), param_hint="--received") from None
    status = engine.status_for(result, ci, today)
    if as_json:
        out = result.to_dict()
        out["receipt_rule"] = engine.receipt_rule
        out["status"] = status.to_dict()
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"Due: {fmt(result.due)} ({result.due.isoformat()})")
    if result.extended_due is not None:
        click.echo(f"Extended due: {fmt(result.extended_due)} ({result.extended_due.isoformat()})")
    if result.review_due is not None and result.review_latest is not None:
        click.echo(
            f"Internal review due: {result.review_due.isoformat()} (at the latest {result.review_latest.isoformat()})"
        )
    click.echo(f"Receipt rule: {engine.receipt_rule}; calendar: {result.calendar}")
    click.echo("How it was counted:")
    for line in result.explanation:
        click.echo(f"  - {line}")
    if result.flags:
        click.echo("Flags: " + ", ".join(result.flags))
    state = "overdue" if status.overdue else ("due soon" if status.due_soon else "in time")
    click.echo(
        f"On {today.isoformat()}: {status.elapsed} working days elapsed, {status.remaining} remaining "
        f"(clock {status.clock}; {state})"
    )
