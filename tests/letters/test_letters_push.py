"""push_letters against the sandbox over HTTP: regarding record, parties, SendEmail, idempotency, notes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from letters_support import TODAY

from connector import odata
from connector.dataverse.errors import DuplicateRecord
from connector.letters import LetterTarget, LetterType, activity_id, push_letters
from connector.letters.render import LetterRenderer


def _crm_case(dv_client: Any, case: Any, email: str | None = "sam@example.org") -> LetterTarget:
    contact = {"firstname": "Sam", "lastname": "Example"}
    if email:  # contacts have an alternate key on the email address: one per case here
        contact["emailaddress1"] = email.replace("@", f"+{odata.key_safe(case.reference).lower()}@")
    contact_id = dv_client.create("contacts", contact)
    case_id = dv_client.create(
        "incidents",
        {
            "title": case.subject,
            "ticketnumber": odata.key_safe(case.reference),
            "customerid_contact@odata.bind": f"/contacts({contact_id})",
        },
    )
    return LetterTarget(case, case_id, contact_id, "incidents", "regardingobjectid_incident_email")


def _parties(dv_client: Any, aid: str) -> list[dict[str, Any]]:
    rows = dv_client.query(
        "activityparties",
        select=["participationtypemask", "_partyid_value"],
        filter=odata.eq("_activityid_value", odata.Guid(aid)),
    )
    return sorted(rows, key=lambda r: r["participationtypemask"])


def _settings(sandbox_settings: Any, **letters: Any) -> Any:
    return sandbox_settings.model_copy(update={"letters": sandbox_settings.letters.model_copy(update=letters)})


def test_email_activity_has_regarding_record_parties_and_is_sent(dv_client, sandbox_settings, make_case):
    settings = _settings(sandbox_settings, send_mode="send")
    target = _crm_case(dv_client, make_case("foia"))
    result = push_letters(dv_client, settings, [target], today=TODAY)
    assert (result.created, result.sent, result.drafts, result.failed) == (1, 1, 0, [])

    aid = activity_id("FOI/2025/0142", LetterType.ACKNOWLEDGEMENT)
    email = dv_client.retrieve(
        "emails", aid, select=["subject", "description", "_regardingobjectid_value", "statecode", "statuscode"]
    )
    assert email["_regardingobjectid_value"] == target.case_id
    assert "FOI/2025/0142" in email["subject"]
    assert "4 July 2025" in email["description"] and "5 August 2025" in email["description"]
    assert (email["statecode"], email["statuscode"]) == (1, 3)  # Completed / Sent through SendEmail

    me = dv_client.whoami()["UserId"]
    parties = _parties(dv_client, aid)
    assert [(p["participationtypemask"], p["_partyid_value"]) for p in parties] == [(1, me), (2, target.contact_id)]
    # Same answer from the case's side: the email hangs off the incident's Incident_Emails collection.
    on_case = dv_client.retrieve(
        "incidents", target.case_id, select=["title"], expand="Incident_Emails($select=subject)"
    )
    assert [e["subject"] for e in on_case["Incident_Emails"]] == [email["subject"]]


def test_rerun_and_crash_replay_create_no_second_acknowledgement(dv_client, sandbox_settings, make_case):
    settings = _settings(sandbox_settings, send_mode="draft")
    target = _crm_case(dv_client, make_case("foia"))
    first = push_letters(dv_client, settings, [target], today=TODAY)
    assert (first.created, first.drafts, first.sent) == (1, 1, 0)

    again = push_letters(dv_client, settings, [target], today=TODAY)
    assert (again.created, again.already_sent) == (0, 1)

    # Two runs racing (e.g. a crash-replay overlapping a scheduled run): still one email. The loser is stopped
    # either by the existence pre-check or by the create-only upsert's 412.
    other = _crm_case(dv_client, make_case("foia", reference="FOI-RACE"))
    with ThreadPoolExecutor(4) as pool:
        races = list(pool.map(lambda _: push_letters(dv_client, settings, [other], today=TODAY), range(4)))
    assert sum(r.created for r in races) == 1 and sum(r.already_sent for r in races) == 3
    assert all(r.failed == [] for r in races)

    # The guard itself: a second create-only upsert of the same letter id is refused with 412.
    aid = activity_id("FOI/2025/0142", LetterType.ACKNOWLEDGEMENT)
    with pytest.raises(DuplicateRecord):
        dv_client.upsert("emails", aid, {"subject": "again"}, create_only=True)

    emails = list(
        dv_client.query(
            "emails", select=["activityid"], filter=odata.eq("_regardingobjectid_value", odata.Guid(target.case_id))
        )
    )
    assert len(emails) == 1


def test_draft_left_by_a_crash_is_sent_on_the_next_run(dv_client, sandbox_settings, make_case):
    target = _crm_case(dv_client, make_case("eir", stage="extended"))
    push_letters(dv_client, _settings(sandbox_settings, send_mode="draft"), [target], today=TODAY)
    aid = activity_id("FOI/2025/0142", LetterType.EIR_EXTENSION)
    assert dv_client.retrieve("emails", aid, select=["statuscode"])["statuscode"] == 1  # draft

    result = push_letters(dv_client, _settings(sandbox_settings, send_mode="send"), [target], today=TODAY)
    assert (result.created, result.already_sent, result.sent) == (0, 2, 2)
    assert dv_client.retrieve("emails", aid, select=["statuscode"])["statuscode"] == 3


def test_queue_sender_note_copy_and_postal_requester(dv_client, sandbox_settings, make_case):
    settings = _settings(sandbox_settings, send_mode="send", from_queue="FOI Requests", copy_as_note=True)
    case = make_case("foisa", stage="clarification_requested", email=None, reference="FOISA-7")
    target = _crm_case(dv_client, case, email=None)
    result = push_letters(dv_client, settings, [target], today=TODAY)
    # Postal-only requester: created but left as drafts for printing, whatever send_mode says.
    assert (result.created, result.sent, result.drafts, result.notes) == (2, 0, 2, 2)

    queue_id = next(dv_client.query("queues", select=["queueid"], filter=odata.eq("name", "FOI Requests")))["queueid"]
    aid = activity_id("FOISA-7", LetterType.CLARIFICATION)
    assert _parties(dv_client, aid)[0]["_partyid_value"] == queue_id
    notes = list(
        dv_client.query(
            "annotations",
            select=["subject", "notetext"],
            filter=odata.eq("_objectid_value", odata.Guid(target.case_id)),
        )
    )
    assert sorted(n["subject"].split(" - ")[0] for n in notes) == [
        "Acknowledgement of your request",
        "We need more detail to answer your request",
    ]
    assert any("start again from the day we receive your reply" in n["notetext"] for n in notes)
    again = push_letters(dv_client, settings, [target], today=TODAY)
    assert (again.created, again.notes, again.already_sent) == (0, 0, 2)


def test_unknown_queue_and_missing_contact_are_reported(dv_client, sandbox_settings, make_case):
    target = _crm_case(dv_client, make_case("foia"))
    bad = push_letters(dv_client, _settings(sandbox_settings, from_queue="No Such Queue"), [target], today=TODAY)
    assert bad.created == 0 and [f.code for f in bad.failed] == ["setup"]
    assert "letters.from_queue" in bad.failed[0].message

    orphan = LetterTarget(make_case("foia", reference="FOI-9"), target.case_id, None)
    res = push_letters(dv_client, sandbox_settings, [orphan], today=TODAY)
    assert res.created == 0 and [s.code for s in res.skipped] == ["no_contact"]


def test_one_bad_letter_does_not_stop_the_rest(dv_client, sandbox_settings, make_case):
    good = _crm_case(dv_client, make_case("foia", reference="FOI-1"))
    # SAR extension without a date: the letter cannot be rendered; the other case still gets its letter.
    bad_case = make_case("sar", reference="SAR-1", stage="received")
    bad = LetterTarget(bad_case, good.case_id, good.contact_id)
    renderer = LetterRenderer(sandbox_settings)
    res = push_letters(dv_client, sandbox_settings, [bad, good], today=TODAY, renderer=renderer)
    assert res.created == 2 and res.failed == []
    res2 = push_letters(
        dv_client,
        sandbox_settings,
        [LetterTarget(make_case("sar", reference="SAR-1", stage="extended"), good.case_id, good.contact_id), good],
        today=TODAY,
    )
    assert res2.created == 0 and [f.code for f in res2.failed] == ["render"]
    assert "SAR-1" in res2.failed[0].message and "Sam" not in res2.failed[0].message


@pytest.mark.parametrize("nav", ["regardingobjectid_incident", "regardingobjectid_contact_email"])
def test_regarding_nav_comes_from_the_target(dv_client, sandbox_settings, make_case, nav):
    target = _crm_case(dv_client, make_case("foia"))
    if nav == "regardingobjectid_contact_email":
        target = LetterTarget(target.case, target.contact_id, target.contact_id, "contacts", nav)
        res = push_letters(dv_client, sandbox_settings, [target], today=TODAY)
        aid = activity_id("FOI/2025/0142", LetterType.ACKNOWLEDGEMENT)
        assert res.created == 1
        assert (
            dv_client.retrieve("emails", aid, select=["_regardingobjectid_value"])["_regardingobjectid_value"]
            == target.case_id
        )
    else:  # the short, undocumented form is rejected by the server the way Dataverse does (400 0x80048d19)
        target = LetterTarget(target.case, target.case_id, target.contact_id, "incidents", nav)
        res = push_letters(dv_client, sandbox_settings, [target], today=TODAY)
        assert res.created == 0 and res.failed and res.failed[0].code == "0x80048d19"
