"""Push letters to the CRM as email activities regarding the case, once per case and letter type, ever.

Idempotency: each letter's ``activityid`` is ``uuid5(namespace, reference + letter type)``. It is created with
``PATCH emails(<id>)`` + ``If-None-Match: *`` (create-only upsert), so a rerun or a replay after a crash gets
412 and counts the letter as already there instead of mailing the requester twice. Existing ids are looked up
in one query per URL-sized batch of letters first, so a routine rerun costs a read, not a write per letter. An officer who
deletes a letter's email in the CRM re-arms it (that is how to ask for a fresh copy).

A caller with a state (the sync engine) passes ``done``: letters it already saw land and finish are skipped with no
request at all, so an unchanged rerun costs nothing here. The engine forgets those markers when its pull sees an
email activity deleted, so a deleted letter is re-created by the run after that; the ids above stay the backstop.

A crash between creating the email and sending it leaves a draft; the next run sees the draft and, in
``send`` mode, sends it then.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from connector import odata
from connector.dataverse.bulk import BulkFailure
from connector.dataverse.errors import DataverseError
from connector.errors import FoiSyncError
from connector.letters.render import LetterRenderer, RenderedLetter
from connector.letters.select import letters_due
from connector.letters.types import NEEDS_EXEMPTION, LetterType
from connector.model import FoiCase

if TYPE_CHECKING:
    from connector.config import Settings
    from connector.dataverse import DataverseClient

log = logging.getLogger(__name__)

#: Fixed namespace for letter ids: never change it, or every letter becomes "new" again.
LETTER_NAMESPACE = uuid.UUID("6c1f5a8e-2b7d-5e0a-9c43-0f6f1d2b8a71")
_REGARDING = re.compile(r"^regardingobjectid_(?P<table>[A-Za-z0-9_]+)_email$")
SENDER, TO_RECIPIENT = 1, 2
DRAFT_STATE, DRAFT_STATUS = 0, 1


def activity_id(reference: str, letter_type: LetterType | str) -> str:
    """The one email activity id a case's letter of this type can ever have."""
    return str(uuid.uuid5(LETTER_NAMESPACE, f"{reference.strip()}\x1f{LetterType(letter_type).value}"))


def done_marker(aid: str, settings: Settings) -> str:
    """What a caller's state remembers for a finished letter: its id, plus the note when notes are on (so turning
    ``copy_as_note`` on later still adds the notes) and the send mode (so switching to ``send`` sends old drafts)."""
    return f"{aid}:{settings.letters.send_mode}" + (":note" if settings.letters.copy_as_note else "")


def note_id(reference: str, letter_type: LetterType | str) -> str:
    return str(uuid.uuid5(LETTER_NAMESPACE, f"{reference.strip()}\x1f{LetterType(letter_type).value}\x1fnote"))


@dataclass(frozen=True)
class LetterTarget:
    """A case the sync engine has pushed: its CRM id, the requester's contact and how emails point at it."""

    case: FoiCase
    case_id: str
    contact_id: str | None
    regarding_entity_set: str = "incidents"
    regarding_nav: str = "regardingobjectid_incident_email"
    #: The case as the CRM holds it after the pull (its stage and outcome): a letter is created only if this still
    #: calls for it too, so the register never overrides an officer's stage. None: the CRM has nothing newer.
    crm_case: FoiCase | None = None
    #: Letter types never to create for this case (e.g. the acknowledgement of a migrated historical case).
    waived: frozenset[LetterType] = frozenset()


@dataclass(frozen=True)
class LetterFailure:
    reference: str
    letter_type: str
    code: str
    message: str  # never requester data


@dataclass
class LetterPushResult:
    created: int = 0  # new email activities
    sent: int = 0  # sent through SendEmail (including drafts left by an earlier crash)
    drafts: int = 0  # left as drafts (draft mode, or a postal-only requester)
    already_sent: int = 0  # existed before this run (rerun, crash replay)
    notes: int = 0
    failed: list[LetterFailure] = field(default_factory=list)
    skipped: list[LetterFailure] = field(default_factory=list)
    letters: list[tuple[str, str, str]] = field(default_factory=list)  # (reference, type, activity id) created
    known: int = 0  # skipped without a request: the caller's state already saw them land and finish
    crm_stopped: int = 0  # due by the register, but the case's state in the CRM no longer calls for them
    done: list[tuple[str, str]] = field(default_factory=list)  # (reference, marker) confirmed finished this run

    def summary(self) -> str:
        return (
            f"letters: {self.created} created, {self.sent} sent, {self.drafts} drafts, "
            f"{self.already_sent} already there, {self.notes} notes, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed"
        )


@dataclass(frozen=True)
class _Sender:
    logical: str  # "queue" | "systemuser"
    entity_set: str
    id: str


def _resolve_sender(client: DataverseClient, settings: Settings) -> _Sender:
    queue = settings.letters.from_queue
    if queue:
        rows = list(client.query("queues", select=["queueid", "name"], filter=odata.eq("name", queue), top=2))
        if not rows:
            raise FoiSyncError(
                f"letters.from_queue: no queue named '{queue}' in the CRM; fix the name (Settings > Queues) "
                "or remove the key to send as the application user"
            )
        if len(rows) > 1:
            raise FoiSyncError(f"letters.from_queue: more than one queue is named '{queue}'; rename one of them")
        return _Sender("queue", "queues", str(rows[0]["queueid"]))
    user = client.whoami().get("UserId")
    if not user:
        raise FoiSyncError("WhoAmI returned no UserId; check the application user's security role")
    return _Sender("systemuser", "systemusers", str(user))


def _regarding_table(target: LetterTarget) -> str:
    m = _REGARDING.match(target.regarding_nav)
    if not m:
        raise FoiSyncError(
            f"regarding navigation property '{target.regarding_nav}' is not an email 'regarding' name; Dataverse "
            "names it regardingobjectid_<table>_email (e.g. regardingobjectid_incident_email)"
        )
    return m.group("table")


def _existing(
    client: DataverseClient, entity_set: str, pid: str, ids: Sequence[str], select: list[str]
) -> dict[str, dict[str, Any]]:
    """id -> row for those of ``ids`` that already exist (one query per URL-sized batch of ids)."""
    found: dict[str, dict[str, Any]] = {}
    for flt in odata.any_of_batches(pid, [odata.Guid(x) for x in ids]):
        for row in client.query(entity_set, select=[pid, *select], filter=flt):
            found[str(row[pid]).lower()] = row
    return found


def _email_body(target: LetterTarget, sender: _Sender, subject: str, html: str) -> dict[str, Any]:
    return {
        "subject": subject,
        "description": html,
        "directioncode": True,  # outgoing
        f"{odata.name(target.regarding_nav)}@odata.bind": odata.bind(target.regarding_entity_set, target.case_id),
        "email_activity_parties": [
            {
                f"partyid_{sender.logical}@odata.bind": odata.bind(sender.entity_set, sender.id),
                "participationtypemask": SENDER,
            },
            {
                "partyid_contact@odata.bind": odata.bind("contacts", str(target.contact_id)),
                "participationtypemask": TO_RECIPIENT,
            },
        ],
    }


def push_letters(
    client: DataverseClient,
    settings: Settings,
    targets: list[LetterTarget],
    *,
    today: date | None = None,
    renderer: LetterRenderer | None = None,
    done: Callable[[Iterable[str]], set[str]] | None = None,
) -> LetterPushResult:
    """Create (and send, in ``send`` mode) every letter the targets' cases are due; see the module docstring.

    ``done(markers) -> markers already finished`` (the sync state) lets a routine rerun skip letters known to be
    in the CRM without asking it; ``result.done`` lists the (reference, marker) pairs this run confirmed."""
    result = LetterPushResult()
    send_mode = settings.letters.send_mode
    plan: list[tuple[LetterTarget, LetterType, str]] = []
    stopped: list[str] = []  # activity ids the register calls for and the CRM's state no longer does
    for target in targets:
        try:
            due = [lt for lt in letters_due(target.case) if lt not in target.waived]
            if target.crm_case is not None:
                # The CRM's stage and outcome decide (the register's clock events ride along in ``crm_case``):
                # what the register calls for and the CRM no longer does is stopped, and a decision an officer
                # recorded only in Dynamics (a refusal, say) earns its notice all the same.
                allowed = [lt for lt in letters_due(target.crm_case) if lt not in target.waived]
                stopped += [activity_id(target.case.reference, lt) for lt in due if lt not in allowed]
                due = allowed
        except Exception as exc:  # one bad case never stops the rest
            result.failed.append(LetterFailure(target.case.reference, "-", "select", type(exc).__name__))
            continue
        decided = target.crm_case or target.case
        for letter in due:
            if letter in NEEDS_EXEMPTION and not decided.exemptions:
                result.skipped.append(
                    LetterFailure(
                        target.case.reference,
                        letter.value,
                        "no_exemption",
                        "a refusal or neither-confirm-nor-deny notice must name the exemption or exception relied on "
                        "(FOIA s.17(1)(b), FOISA s.16(1)(c), EIR reg 14(3)(a)); record it on the case in the CRM and "
                        "the notice is drafted on the next run",
                    )
                )
                continue
            if not target.contact_id:
                result.skipped.append(
                    LetterFailure(
                        target.case.reference,
                        letter.value,
                        "no_contact",
                        "the case has no requester contact in the CRM, so the letter has no recipient; "
                        "link a contact to the case and rerun",
                    )
                )
                continue
            plan.append((target, letter, activity_id(target.case.reference, letter)))
    # Counted only while not already in the CRM (a letter sent before the officer moved the case on is no news).
    already = done([done_marker(a, settings) for a in stopped]) if stopped and done is not None else set()
    result.crm_stopped = sum(1 for a in stopped if done_marker(a, settings) not in already)
    if plan and done is not None:
        finished = done([done_marker(aid, settings) for _, _, aid in plan])
        if finished:
            result.known = sum(1 for _, _, aid in plan if done_marker(aid, settings) in finished)
            plan = [p for p in plan if done_marker(p[2], settings) not in finished]
    if not plan:
        log.info("%s", result.summary())
        return result

    try:
        renderer = renderer or LetterRenderer(settings)
        sender = _resolve_sender(client, settings)
        existing = _existing(client, "emails", "activityid", [p[2] for p in plan], ["statecode", "statuscode"])
        notes = (
            _existing(client, "annotations", "annotationid", [note_id(t.case.reference, lt) for t, lt, _ in plan], [])
            if settings.letters.copy_as_note
            else {}
        )
    except (FoiSyncError, DataverseError) as exc:
        message = str(exc)
        log.error("letters not pushed: %s", message)
        for target, letter, _ in plan:
            result.failed.append(LetterFailure(target.case.reference, letter.value, "setup", message))
        return result

    deadlines: dict[str, Any] = {}
    fresh: list[tuple[LetterTarget, LetterType, str, RenderedLetter]] = []
    new_notes: list[tuple[LetterTarget, LetterType, str, str]] = []  # (target, type, subject, text)
    for target, letter, aid in plan:
        case = target.crm_case or target.case  # the CRM's decision (stage, outcome, exemptions) is what the letter says
        ref = case.reference
        can_send = send_mode == "send" and case.requester.email is not None
        row = existing.get(aid)
        try:
            if row is not None:
                result.already_sent += 1
                if can_send and row.get("statecode") == DRAFT_STATE and row.get("statuscode") == DRAFT_STATUS:
                    _send(client, aid)  # a crash left it as a draft last time
                    result.sent += 1
                    log.info("case %s: %s was a draft left by an earlier run; sent now", ref, letter.value)
                if settings.letters.copy_as_note and note_id(ref, letter) not in notes:
                    rendered = renderer.render(letter, case, _deadline(renderer, case, deadlines), today=today)
                    new_notes.append((target, letter, rendered.subject, rendered.text))
                is_draft = row.get("statecode") == DRAFT_STATE and row.get("statuscode") == DRAFT_STATUS
                if not (send_mode == "send" and is_draft and not can_send):
                    result.done.append((ref, done_marker(aid, settings)))
                continue
            fresh.append(
                (target, letter, aid, renderer.render(letter, case, _deadline(renderer, case, deadlines), today=today))
            )
        except DataverseError as exc:
            result.failed.append(LetterFailure(ref, letter.value, exc.code or str(exc.status or ""), exc.message))
            log.warning("case %s: %s letter failed: %s", ref, letter.value, exc.describe())
        except FoiSyncError as exc:
            result.failed.append(LetterFailure(ref, letter.value, "render", str(exc)))
            log.warning("case %s: %s letter not rendered: %s", ref, letter.value, exc)

    # New letters in bulk (CreateMultiple with the letters' own ids: a replay finds them instead of doubling them;
    # a table that does not take CreateMultiple gets one create per letter through the bulk client's fallback).
    bodies = [{"activityid": aid, **_email_body(t, sender, r.subject, r.html)} for t, _, aid, r in fresh]
    outcome = _create_all(client, "emails", "email", bodies)
    for n, (target, letter, aid, rendered) in enumerate(fresh):
        ref = target.case.reference
        if n in outcome.preexisting:
            result.already_sent += 1  # another run created it between our read and this write
            continue
        failure = outcome.failures.get(n)
        if failure is not None:
            result.failed.append(LetterFailure(ref, letter.value, failure.code, failure.message))
            log.warning("case %s: %s letter failed: %s %s", ref, letter.value, failure.code, failure.message)
            continue
        result.created += 1
        result.letters.append((ref, letter.value, aid))
        can_send = send_mode == "send" and target.case.requester.email is not None
        try:
            if can_send:
                _send(client, aid)
                result.sent += 1
            else:
                result.drafts += 1
        except DataverseError as exc:
            result.failed.append(LetterFailure(ref, letter.value, exc.code or str(exc.status or ""), exc.message))
            log.warning("case %s: %s letter not sent: %s", ref, letter.value, exc.describe())
            continue
        if settings.letters.copy_as_note and note_id(ref, letter) not in notes:
            new_notes.append((target, letter, rendered.subject, rendered.text))
        result.done.append((ref, done_marker(aid, settings)))
        log.info("case %s: %s letter %s (%s)", ref, letter.value, "sent" if can_send else "left as draft", aid)
    if new_notes:
        made = _create_all(client, "annotations", "annotation", [_note_body(*n) for n in new_notes])
        result.notes += len(new_notes) - len(made.failures) - len(made.preexisting)
        for n, failure in made.failures.items():
            target, letter = new_notes[n][0], new_notes[n][1]
            log.warning("case %s: note copy of %s failed: %s", target.case.reference, letter.value, failure.code)
    log.info("%s", result.summary())
    return result


def _deadline(renderer: LetterRenderer, case: FoiCase, cache: dict[str, Any]) -> Any:
    if case.reference not in cache:
        cache[case.reference] = renderer.engine.compute(case)
    return cache[case.reference]


def _send(client: DataverseClient, aid: str) -> None:
    client.action("SendEmail", {"IssueSend": True}, entity_set="emails", key=aid)


@dataclass
class _Created:
    """What a bulk create did, by input position: the failures, and the records that were already there."""

    failures: dict[int, BulkFailure] = field(default_factory=dict)
    preexisting: set[int] = field(default_factory=set)


def _create_all(client: DataverseClient, entity_set: str, logical_name: str, bodies: list[dict[str, Any]]) -> _Created:
    """CreateMultiple of ``bodies`` (each with its own id); a call that cannot start fails every record, by position."""
    if not bodies:
        return _Created()
    try:
        bulk = client.create_multiple(entity_set, logical_name, bodies)
    except (DataverseError, FoiSyncError) as exc:
        code = exc.code if isinstance(exc, DataverseError) and exc.code else type(exc).__name__
        return _Created({n: BulkFailure(n, None, code, str(exc)) for n in range(len(bodies))})
    return _Created({f.index: f for f in bulk.failed}, set(bulk.preexisting))


def _note_body(target: LetterTarget, letter: LetterType, subject: str, text: str) -> dict[str, Any]:
    """A plain-text copy of the letter as a note on the case, with its deterministic id."""
    table = _regarding_table(target)
    return {
        "annotationid": note_id(target.case.reference, letter),
        "subject": subject[:500],
        "notetext": text,
        f"objectid_{table}@odata.bind": odata.bind(target.regarding_entity_set, target.case_id),
    }
