"""Reasons in the CRM, over real HTTP to the sandbox with the shipped incident mapping: a repeat request is linked to
the earlier case by the ``related_case`` lookup (bound by its alternate key), its related requests and the grade's
explanation are readable text on the record, and a second run of the same inputs writes nothing.

The register is hand-made: FOI/2026/0301 (answered, 20 days ago) and FOI/2026/0302 (2 days ago) come from the same
requester with the same words, so 0302 is a s.14(2) repeat of 0301 (same requester, identical text, within the
60-day window of ``intake.repeat_window_days``).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import INCIDENT_MAPPING, write_requests

from connector import odata
from connector.config import IntakeSource
from connector.paths import MAPPINGS_DIR
from connector.sync.job import run_sync

HEADER = (
    "Ref No,Date Received,Time Received,Request Type,Received Via,Requester Name,Email,Address,Town,Postcode,"
    "Organisation,Requester Type,Subject,Request Details,Department,Status,Date Responded,Outcome,"
    "Exemptions Applied,Officer"
)
NAME, EMAIL = "Tamsin Verrallbrook", "tamsin.v@example.org"
TEXT = "Please send the inspection reports for the Mill Lane footbridge for 2023 and 2024, and the repair costs."


def _day(days_ago: int) -> str:
    return (date.today() - timedelta(days=days_ago)).strftime("%d/%m/%Y")


def _row(ref: str, days_ago: int, status: str, responded: str = "", outcome: str = "") -> str:
    return (
        f"{ref},{_day(days_ago)},10:15,Freedom of Information,Email,{NAME},{EMAIL},,,,,Member of public,"
        f'Footbridge inspections,"{TEXT}",Highways,{status},{responded},{outcome},,'
    )


def write_register(path: Path, rows: list[str]) -> None:
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture
def settings(sync_settings: Any, tmp_path: Path) -> Any:
    sync_settings.intake.sources = [
        IntakeSource(
            name="register",
            kind="csv",
            path=str(tmp_path / "register.csv"),
            mapping=MAPPINGS_DIR / "source-sample-register.toml",
        )
    ]
    sync_settings.intake.rules = MAPPINGS_DIR / "routing-rules.toml"
    sync_settings.intake.triage_rules = MAPPINGS_DIR / "triage-rules.toml"
    return sync_settings


def crm_case(client: Any, key: str, select: list[str]) -> dict[str, Any]:
    rows = list(client.query("incidents", select=["incidentid", *select], filter=odata.eq("foi_reference", key)))
    assert len(rows) == 1, rows
    return rows[0]


def test_repeat_is_linked_and_explained_on_the_crm_record(settings: Any, provisioned: Any) -> None:
    register = Path(settings.intake.sources[0].path)
    write_register(
        register,
        [
            _row("FOI/2026/0301", 20, "Closed", _day(5), "Full disclosure"),
            _row("FOI/2026/0302", 2, "Open"),
        ],
    )
    first = run_sync(settings, client=provisioned)
    assert first.exit_code == 0, first.errors
    assert first.counts["created"] == 2

    earlier = crm_case(provisioned, "FOI-2026-0301", [])
    later = crm_case(
        provisioned,
        "FOI-2026-0302",
        ["_foi_relatedcaseid_value", "foi_relatedrequests", "foi_gradeexplanation", "foi_prioritygrade"],
    )
    # The lookup an officer clicks in Dynamics points at the earlier case's record.
    assert later["_foi_relatedcaseid_value"] == earlier["incidentid"]
    assert later["foi_relatedrequests"].startswith("FOI/2026/0301: repeat of")
    assert "s.14(2)" in later["foi_relatedrequests"]
    # The grade and why, as readable text: the grade's label, its score and the repeat among the reasons.
    explanation = later["foi_gradeexplanation"]
    assert explanation and "FOI/2026/0301" in explanation and "(" in explanation.split(":")[0]
    assert NAME not in explanation and EMAIL not in explanation
    first_answered = crm_case(provisioned, "FOI-2026-0301", ["_foi_relatedcaseid_value", "foi_gradeexplanation"])
    assert first_answered["_foi_relatedcaseid_value"] is None  # closed cases are history, not cross-checked
    assert first_answered["foi_gradeexplanation"].startswith("closed")

    second = run_sync(settings, client=provisioned)
    assert second.exit_code == 0, second.errors
    assert second.counts.get("planned_skip") == 2, second.plan
    assert second.write_requests == 0


def _officer_case(client: Any, ref: str, days_ago: int, text: str, email: str, name: str) -> str:
    """A case an officer made in Dynamics (no register row, never pushed by foi-sync): answered 5 days ago."""
    first, last = name.split(" ", 1)
    contact = client.create("contacts", {"firstname": first, "lastname": last, "emailaddress1": email})
    received = date.today() - timedelta(days=days_ago)
    return client.create(
        "incidents",
        {
            "title": f"{ref} Footbridge inspections",
            "foi_reference": odata.key_safe(ref),
            "foi_sourcereference": ref,
            "foi_requesttext": text,
            "foi_receivedon": f"{received.isoformat()}T10:00:00Z",
            "foi_respondedon": f"{(date.today() - timedelta(days=5)).isoformat()}T10:00:00Z",
            "foi_regime": 100000000,  # foia, mappings/target-incident.toml
            "foi_stage": 100000008,  # closed
            "foi_outcome": 100000000,  # granted_in_full
            "customerid_contact@odata.bind": odata.bind("contacts", contact),
        },
    )


def test_a_repeat_of_a_case_only_the_crm_holds_is_linked_on_the_crm_record(settings: Any, provisioned: Any) -> None:
    earlier_id = _officer_case(provisioned, "FOI/2025/0950", 30, TEXT, EMAIL, NAME)
    # A different requester's answered case with other words: not related to anything.
    _officer_case(
        provisioned,
        "FOI/2025/0951",
        30,
        "How many parking permits were issued in 2024?",
        "o@example.org",
        "Olu Adeyemi",
    )
    register = Path(settings.intake.sources[0].path)
    write_register(register, [_row("FOI/2026/0310", 2, "Open")])  # today's files hold only the new request

    first = run_sync(settings, client=provisioned)
    assert first.exit_code == 0, first.errors
    assert first.counts["created"] == 1
    assert first.counts["history_contacts_read"] == 2  # the two officers' contacts, read once by id

    later = crm_case(
        provisioned, "FOI-2026-0310", ["_foi_relatedcaseid_value", "foi_relatedrequests", "foi_gradeexplanation"]
    )
    assert later["_foi_relatedcaseid_value"] == earlier_id
    assert later["foi_relatedrequests"].splitlines()[0].startswith("FOI/2025/0950: repeat of")
    assert "FOI/2025/0951" not in later["foi_relatedrequests"]
    assert "FOI/2025/0950" in later["foi_gradeexplanation"]

    again = run_sync(settings, client=provisioned)
    assert again.exit_code == 0, again.errors
    assert again.write_requests == 0 and again.counts.get("history_contacts_read", 0) == 0


def test_the_first_pull_after_a_migration_reads_many_contacts_by_scanning_the_table(
    settings: Any, provisioned: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When reading the unresolved contacts by id would take more requests than reading the contact table a page
    (5,000) at a time, the history scans the table (the first pull after a migration of 20,000 cases: 4 requests,
    not 100). Here one id per request makes the two contacts cost 2 requests by id against 1 page; the repeat is
    found only if the scan kept the right contacts."""
    from connector.sync import history

    monkeypatch.setattr(history, "_LOOKUP_BATCH", 1)
    earlier_id = _officer_case(provisioned, "FOI/2025/0960", 30, TEXT, EMAIL, NAME)
    _officer_case(
        provisioned,
        "FOI/2025/0961",
        30,
        "How many parking permits were issued in 2024?",
        "o@example.org",
        "Olu Adeyemi",
    )
    provisioned.create("contacts", {"firstname": "Not", "lastname": "Involved", "emailaddress1": "n@example.org"})
    write_register(Path(settings.intake.sources[0].path), [_row("FOI/2026/0330", 2, "Open")])

    first = run_sync(settings, client=provisioned)
    assert first.exit_code == 0, first.errors
    assert first.counts["history_contacts_read"] == 2  # only the contacts the history was waiting for are kept
    later = crm_case(provisioned, "FOI-2026-0330", ["_foi_relatedcaseid_value", "foi_relatedrequests"])
    assert later["_foi_relatedcaseid_value"] == earlier_id
    # "repeat" needs the same requester: the scan must have given the earlier case's contact its requester key.
    assert later["foi_relatedrequests"].splitlines()[0].startswith("FOI/2025/0960: repeat of")
    assert "FOI/2025/0961" not in later["foi_relatedrequests"]


def _emails(client: Any, case_id: str) -> list[str]:
    rows = client.query("emails", select=["subject"], filter=odata.eq("_regardingobjectid_value", odata.Guid(case_id)))
    return sorted(r["subject"].split(" - ")[0] for r in rows)


def test_an_officers_stage_in_the_crm_stops_a_letter_the_register_would_trigger(
    settings: Any, provisioned: Any
) -> None:
    register = Path(settings.intake.sources[0].path)
    # Two open requests from different requesters (so neither relates to the other).
    other = _row("FOI/2026/0321", 4, "Open").replace(NAME, "Ifan Bryn-Jones").replace(EMAIL, "ifan.bj@example.org")
    other = other.replace(TEXT, "How many school crossing patrols does the council fund in 2026?")
    write_register(register, [_row("FOI/2026/0320", 4, "Open"), other])
    first = run_sync(settings, client=provisioned)
    assert first.exit_code == 0, first.errors
    assert first.counts["letters_created"] == 2  # the two acknowledgements

    # The officer answers FOI/2026/0320 in Dynamics; the register (stale) then says both await clarification.
    answered = crm_case(provisioned, "FOI-2026-0320", [])["incidentid"]
    provisioned.update("incidents", answered, {"foi_stage": 100000007})  # response_sent
    write_register(
        register,
        [_row("FOI/2026/0320", 4, "Awaiting clarification"), other.replace(",Open,", ",Awaiting clarification,")],
    )
    second = run_sync(settings, client=provisioned)
    assert second.exit_code == 0, second.errors
    assert second.counts["stage_conflicts"] == 1
    assert second.counts["letters_stopped_by_crm"] == 1
    assert second.counts["letters_created"] == 1  # the other case's clarification letter: the register still counts
    assert _emails(provisioned, answered) == ["Acknowledgement of your request"]
    untouched = crm_case(provisioned, "FOI-2026-0321", [])["incidentid"]
    assert len(_emails(provisioned, untouched)) == 2
    assert crm_case(provisioned, "FOI-2026-0320", ["foi_stage"])["foi_stage"] == 100000007  # the officer's stage


def test_an_officers_decision_in_the_crm_earns_its_notice_once(settings: Any, provisioned: Any) -> None:
    """Issue 15: a notice is pushed when the case reaches the matching state in the CRM, once. The officer records
    the refusal in Dynamics; the register never hears of it, and the refusal notice is still drafted, once."""
    register = Path(settings.intake.sources[0].path)
    write_register(register, [_row("FOI/2026/0330", 4, "Open")])
    first = run_sync(settings, client=provisioned)
    assert first.exit_code == 0, first.errors
    case_id = crm_case(provisioned, "FOI-2026-0330", [])["incidentid"]
    assert _emails(provisioned, case_id) == ["Acknowledgement of your request"]

    provisioned.update("incidents", case_id, {"foi_outcome": 100000002})  # withheld_in_full, set by the officer
    second = run_sync(settings, client=provisioned)
    assert second.exit_code == 0, second.errors
    # A refusal notice must name the exemption (FOIA s.17(1)(b)): none is recorded yet, so none is drafted.
    assert _emails(provisioned, case_id) == ["Acknowledgement of your request"]
    assert second.counts["letters_waiting_no_exemption"] == 1

    provisioned.update("incidents", case_id, {"foi_exemptions": "s43(2)"})  # the officer records the exemption
    third = run_sync(settings, client=provisioned)
    assert third.exit_code == 0, third.errors
    assert _emails(provisioned, case_id) == ["Acknowledgement of your request", "Your request: refusal notice"]
    refusal = next(
        e
        for e in provisioned.query(
            "emails",
            select=["subject", "description"],
            filter=odata.eq("_regardingobjectid_value", odata.Guid(case_id)),
        )
        if e["subject"].startswith("Your request: refusal")
    )
    assert "s43(2)" in refusal["description"]
    assert crm_case(provisioned, "FOI-2026-0330", ["foi_outcome"])["foi_outcome"] == 100000002  # still theirs

    fourth = run_sync(settings, client=provisioned)
    assert fourth.exit_code == 0, fourth.errors
    assert len(_emails(provisioned, case_id)) == 2


def test_migrate_acknowledges_no_one_by_default_and_a_late_acknowledgement_says_so(
    settings: Any, provisioned: Any, tmp_path: Path
) -> None:
    from connector.sync.job import run_migrate

    backlog = tmp_path / "backlog.csv"
    # Received 60 days ago and still open: its 20 working days ran out weeks ago.
    write_register(backlog, [_row("FOI/2025/0900", 60, "Open")])
    mapping = MAPPINGS_DIR / "source-sample-register.toml"
    quiet = run_migrate(settings, backlog, mapping, client=provisioned)
    assert quiet.exit_code == 0, quiet.errors
    case_id = crm_case(provisioned, "FOI-2025-0900", [])["incidentid"]
    assert _emails(provisioned, case_id) == []
    # The scheduled job reading the same register later does not acknowledge it either.
    settings.intake.sources[0].path = str(backlog)
    later = run_sync(settings, client=provisioned)
    assert later.exit_code == 0, later.errors
    assert _emails(provisioned, case_id) == []

    write_register(backlog, [_row("FOI/2025/0901", 60, "Open")])
    loud = run_migrate(settings, backlog, mapping, client=provisioned, acknowledge=True)
    assert loud.exit_code == 0, loud.errors
    late_id = crm_case(provisioned, "FOI-2025-0901", [])["incidentid"]
    letters = list(
        provisioned.query(
            "emails", select=["description"], filter=odata.eq("_regardingobjectid_value", odata.Guid(late_id))
        )
    )
    assert len(letters) == 1
    body = letters[0]["description"]
    assert "did not respond in time" in body and "We will respond by" not in body
    # The limit quoted comes from the rules table (20 working days for FOIA), the date is the one that passed.
    assert "20 working days" in body and "ask us now for an internal review" in body


def test_a_retried_dead_letter_lands_with_its_grade_explanation_and_the_next_run_changes_nothing(
    settings: Any, provisioned: Any, tmp_path: Path
) -> None:
    from connector.sync.job import retry_dead_letters

    # A copy of the shipped mapping without the EIR regime choice: the EIR case becomes a dead letter.
    broken = tmp_path / "target-incident.toml"
    text = INCIDENT_MAPPING.read_text(encoding="utf-8")
    assert "eir = 100000001\n" in text
    broken.write_text(text.replace("eir = 100000001\n", "", 1), encoding="utf-8")
    settings.sync.target_mapping = broken
    register = Path(settings.intake.sources[0].path)
    eir = _row("FOI/2026/0331", 3, "Open").replace("Freedom of Information", "Env Info")
    write_register(register, [_row("FOI/2026/0330", 3, "Open"), eir])
    first = run_sync(settings, client=provisioned)
    assert first.counts["dead_letters"] == 1 and first.counts["created"] == 1

    broken.write_text(text, encoding="utf-8")  # the CRM admin fixes the mapping, then retries
    summary = retry_dead_letters(settings, client=provisioned)
    assert summary["resolved"] == 1, summary
    case = crm_case(provisioned, "FOI-2026-0331", ["foi_gradeexplanation", "foi_prioritygrade"])
    assert case["foi_gradeexplanation"] and case["foi_prioritygrade"] is not None

    again = run_sync(settings, client=provisioned)
    assert again.exit_code == 0, again.errors
    # The retried case is unchanged (its grade and explanation rode on it); FOI/2026/0330 is only re-hashed because
    # the mapping file changed back (nothing to send).
    assert again.plan["examples"]["skip"] == ["FOI/2026/0331"], again.plan
    assert again.write_requests == 0


def test_a_repeat_of_a_case_new_this_run_is_linked_by_the_updates_call_and_a_refused_link_is_retried(
    settings: Any, provisioned: Any, sandbox: Any
) -> None:
    """0302 repeats 0301 and both are new: a daily job creates both in one request and sets the link with the
    updates' UpdateMultiple (two requests, not one per level of the chain). When the CRM refuses that link, 0302
    is saved as not yet in step: its dead letter's retry sets the link, and the run after writes nothing."""
    from connector.dataverse import DataverseClient
    from connector.sync.job import retry_dead_letters
    from connector.sync.state import StateStore

    write_register(
        Path(settings.intake.sources[0].path),
        [_row("FOI/2026/0301", 20, "Closed", _day(5), "Full disclosure"), _row("FOI/2026/0302", 2, "Open")],
    )
    settings.dataverse.retry_budget_seconds = 1.0
    impatient = DataverseClient.from_settings(settings.dataverse)
    sandbox.reset_stats()
    try:
        impatient.whoami()
        sandbox.faults.schedule("5xx", method="POST", path_contains="UpdateMultiple", count=10_000, status=503)
        first = run_sync(settings, client=impatient)
    finally:
        impatient.close()
        sandbox.faults._scheduled.clear()  # the CRM answers again
    stats = sandbox.stats()
    assert stats.get("POST incidents:UpsertMultiple") == 1  # both cases in one request
    assert first.counts["created"] == 2 and first.exit_code == 1
    assert crm_case(provisioned, "FOI-2026-0302", ["_foi_relatedcaseid_value"])["_foi_relatedcaseid_value"] is None
    with StateStore(settings.sync.state_path) as st:
        assert [d.source_key for d in st.dead_letters() if d.table_name == "incident"] != []
    assert retry_dead_letters(settings, client=provisioned)["still_failing"] == 0
    earlier = crm_case(provisioned, "FOI-2026-0301", [])
    assert (
        crm_case(provisioned, "FOI-2026-0302", ["_foi_relatedcaseid_value"])["_foi_relatedcaseid_value"]
        == (earlier["incidentid"])
    )
    sandbox.reset_stats()
    again = run_sync(settings, client=provisioned)
    assert again.exit_code == 0 and write_requests(sandbox) == 0, sandbox.stats()
