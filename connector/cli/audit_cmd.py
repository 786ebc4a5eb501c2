"""``foi-sync audit REFERENCE`` (a case's whole history) and ``foi-sync runs`` (recent runs and their counts).

The history is read from the CRM, which is the record: every note on the case's timeline (foi-sync's stage and
audit notes in full; notes CRM users wrote by their subject only, since they may quote the requester) and the
letters regarding it (by kind and state, never their subject or body). Beside it, the local ledger: the runs that
pushed the case, what each recorded on it, and its dead letters.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from connector import odata
from connector.cli import AppContext

if TYPE_CHECKING:  # imported inside the commands, so `foi-sync --help` stays fast
    from connector.dataverse import DataverseClient
    from connector.sync.mapping import TargetMapping

#: How many of a run's counts `foi-sync runs` shows in its table (all of them with --json).
SHOWN_COUNTS = ("created", "updated", "adopted", "dead_letters", "notes", "audit_notes", "letters_created", "pulled")


def _history(
    client: DataverseClient, mapping: TargetMapping, reference: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """-> (the case row or None, timeline entries sorted by time) read from the CRM."""
    from connector.reporting.store import letter_kind

    key_col = mapping.alternate_key[0]
    cols = [mapping.primary_id, key_col, "createdon"]
    rows = list(
        client.query(mapping.entity_set, select=cols, filter=odata.eq(key_col, odata.key_safe(reference)), top=1)
    )
    as_written = mapping.fields.get("reference")
    if not rows and as_written is not None:
        rows = list(client.query(mapping.entity_set, select=cols, filter=odata.eq(as_written.column, reference), top=1))
    if not rows:
        return None, []
    case = rows[0]
    case_id = odata.Guid(str(case[mapping.primary_id]))
    entries: list[dict[str, Any]] = []
    tl = mapping.timeline
    for note in client.query(
        tl.note_entity_set,
        select=["annotationid", "subject", "notetext", "createdon"],
        filter=odata.eq("_objectid_value", case_id),
    ):
        subject = str(note.get("subject") or "")
        ours = subject.startswith("FOI ")
        entries.append(
            {
                "at": str(note.get("createdon") or ""),
                "source": "crm note" if ours else "crm note (by a CRM user)",
                "title": subject if ours else "(a note written in the CRM: open the case to read it)",
                "text": str(note.get("notetext") or "") if ours else "",
            }
        )
    states = {0: "draft", 1: "completed", 2: "cancelled"}
    for email in client.query(
        "emails",
        select=["activityid", "subject", "statecode", "createdon"],
        filter=odata.eq("_regardingobjectid_value", case_id),
    ):
        code = email.get("statecode")
        state = states.get(code, "?") if isinstance(code, int) else "?"
        entries.append(
            {
                "at": str(email.get("createdon") or ""),
                "source": "crm letter",
                "title": f"letter: {letter_kind(email.get('subject'))} ({state})",
                "text": "",
            }
        )
    entries.sort(key=lambda e: e["at"])
    return case, entries


@click.command()
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the CRM's timeline and the local ledger.")
@click.pass_obj
def audit(app: AppContext, reference: str, as_json: bool) -> None:
    """Print a case's whole history: the CRM's notes and letters, then the local run ledger."""
    from connector.dataverse import DataverseClient
    from connector.sync.mapping import load_target_mapping
    from connector.sync.state import StateStore

    settings = app.settings
    mapping = load_target_mapping(settings.sync.target_mapping)
    # A CRM that cannot be reached or refuses us ends in one message and exit 4 (connector/errors.py, in main).
    client = DataverseClient.from_settings(settings.dataverse)
    try:
        case, entries = _history(client, mapping, reference)
    finally:
        client.close()
    ledger: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    pushed: dict[str, Any] | None = None
    key = odata.key_safe(reference)
    if settings.sync.state_path.exists():
        with StateStore(settings.sync.state_path) as state:
            for e in state.case_events(key):
                run = state.run(str(e["run_id"])) if e.get("run_id") else None
                ledger.append({**e, "run_kind": run["kind"] if run else None})
            rec = state.get(mapping.table, key)
            if rec is not None:
                pushed = {"pushed_at": rec.pushed_at, "stage": rec.stage, "crm_id": rec.dataverse_id}
            dead = [
                {"id": d.id, "code": d.error_code, "status": d.status, "last_failed_at": d.last_failed_at}
                for d in state.dead_letters(None)
                if d.source_key == key
            ]
    if case is None and not ledger and pushed is None:
        click.echo(
            f"error: no case {reference!r} in the CRM ({mapping.entity_set}) or in the local state; "
            "check the reference (as written, e.g. FOI/2026/0001)",
            err=True,
        )
        sys.exit(1)
    if as_json:
        out = {
            "reference": reference,
            "crm_id": case[mapping.primary_id] if case else None,
            "crm": entries,
            "ledger": ledger,
            "last_push": pushed,
            "dead_letters": dead,
        }
        click.echo(json.dumps(out, indent=2, default=str))
        return
    click.echo(f"Case {reference}" + (f" (CRM id {case[mapping.primary_id]})" if case else " (not in the CRM)"))
    click.echo("\nIn the CRM (notes and letters on the case, oldest first):")
    if not entries:
        click.echo("  (nothing on the timeline)")
    for e in entries:
        click.echo(f"  {e['at']}  {e['title']}")
        if e["text"]:
            click.echo(f"      {e['text']}")
    click.echo("\nLocal run ledger (what each foi-sync run recorded on this case):")
    if not ledger:
        click.echo("  (no entries)")
    for e in ledger:
        click.echo(f"  {e['at']}  run {e['run_id']} ({e['run_kind'] or '?'})  {e['kind']}: {e['text']}")
    if pushed:
        click.echo(f"  last pushed {pushed['pushed_at']} at stage {pushed['stage'] or '(none)'}")
    for d in dead:
        click.echo(f"  dead letter #{d['id']} {d['code']} ({d['status']}, last failed {d['last_failed_at']})")


@click.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000), help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Every run with all its counts, as JSON.")
@click.pass_obj
def runs(app: AppContext, limit: int, as_json: bool) -> None:
    """Recent runs (newest first): kind, status, start and finish, and what each did."""
    from connector.sync.state import StateStore

    path = app.settings.sync.state_path
    if not path.exists():
        click.echo("no state file yet: nothing has run")
        return
    with StateStore(path) as state:
        rows = state.runs(limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no runs recorded yet")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("run", "kind", "status", "started", "finished", *SHOWN_COUNTS)
    for r in rows:
        counts = r["counts"]
        t.add_row(
            r["run_id"],
            r["kind"],
            r["status"],
            r["started_at"],
            r["finished_at"] or "",
            *(str(counts.get(c, 0)) for c in SHOWN_COUNTS),
        )
    Console(width=220).print(t)
