"""The scheduled job against the sandbox: idempotence, field ownership, stage notes, reminders, lock, dry run."""

from __future__ import annotations

import os
import stat
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sync_helpers import NOW, make_case, write_requests

from connector import odata
from connector.errors import LockError
from connector.sync.job import run_sync
from connector.sync.lock import lock_for
from connector.sync.mapping import TargetMapping
from connector.sync.state import StateStore


def _row(client: Any, mapping: TargetMapping, reference: str) -> dict[str, Any]:
    return client.retrieve(
        mapping.entity_set, {"foi_reference": odata.key_safe(reference)}, select=mapping.pull_columns
    )


def test_second_run_with_nothing_changed_sends_no_write(
    sandbox: Any, sync_settings: Any, provisioned: Any, mapping: TargetMapping
) -> None:
    cases = [make_case(i) for i in range(5)]
    first = run_sync(sync_settings, client=provisioned, cases=cases)
    assert first.exit_code == 0, first.errors
    assert first.counts["created"] == 5 and first.counts["contacts_created"] == 3
    assert len(sandbox.rows("incident")) == 5 and len(sandbox.rows("contact")) == 3
    sandbox.reset_stats()
    second = run_sync(sync_settings, client=provisioned, cases=[make_case(i) for i in range(5)])
    assert second.counts.get("planned_skip") == 5
    assert second.write_requests == 0
    assert write_requests(sandbox) == 0, sandbox.stats()
    assert len(sandbox.rows("incident")) == 5


def test_crm_owned_field_edited_in_crm_survives_the_next_push(
    sandbox: Any, sync_settings: Any, provisioned: Any, mapping: TargetMapping
) -> None:
    case = make_case(1)
    run_sync(sync_settings, client=provisioned, cases=[case])
    key = {"foi_reference": odata.key_safe(case.reference)}
    # A CRM user corrects the service area (CRM-owned) and the title (CRM-owned).
    provisioned.update("incidents", key, {"foi_servicearea": "Street Lighting Team", "title": "Edited by an officer"})
    # The source moves on: new outcome (connector-owned) and a different service area (CRM-owned, must not win).
    changed = make_case(
        1,
        stage="response_sent",
        outcome="granted_in_full",
        responded_at=NOW,
        service_area="Planning",
        subject="A new subject",
    )
    report = run_sync(sync_settings, client=provisioned, cases=[changed])
    assert report.counts["updated"] == 1 and report.exit_code == 0
    row = _row(provisioned, mapping, case.reference)
    assert row["foi_servicearea"] == "Street Lighting Team"
    assert row["title"] == "Edited by an officer"
    assert row["foi_outcome"] == mapping.fields["outcome"].choices["granted_in_full"]
    assert row["foi_stage"] == mapping.fields["stage"].choices["response_sent"]


def test_stage_change_writes_a_timeline_note_once(sandbox: Any, sync_settings: Any, provisioned: Any) -> None:
    run_sync(sync_settings, client=provisioned, cases=[make_case(2)])
    moved = make_case(2, stage="in_progress")
    report = run_sync(sync_settings, client=provisioned, cases=[moved])
    assert report.counts["notes"] == 1
    notes = [n for n in sandbox.rows("annotation") if n["subject"].startswith("FOI stage")]  # not the audit notes
    assert len(notes) == 1 and "received to in_progress" in notes[0]["notetext"]
    every = len(sandbox.rows("annotation"))
    again = run_sync(sync_settings, client=provisioned, cases=[moved])
    assert again.write_requests == 0 and len(sandbox.rows("annotation")) == every


def test_stage_moved_by_a_crm_user_wins(
    sandbox: Any, sync_settings: Any, provisioned: Any, mapping: TargetMapping
) -> None:
    case = make_case(3)
    run_sync(sync_settings, client=provisioned, cases=[case])
    stage = mapping.fields["stage"].choices
    provisioned.update("incidents", {"foi_reference": "FOI-2026-0003"}, {"foi_stage": stage["clarification_requested"]})
    report = run_sync(sync_settings, client=provisioned, cases=[make_case(3, stage="in_progress")])
    assert report.counts["stage_conflicts"] == 1
    assert _row(provisioned, mapping, case.reference)["foi_stage"] == stage["clarification_requested"]
    # The conflict is reported once; when the register moves on again, its new stage applies.
    assert run_sync(sync_settings, client=provisioned, cases=[make_case(3, stage="in_progress")]).write_requests == 0
    later = run_sync(sync_settings, client=provisioned, cases=[make_case(3, stage="withdrawn_or_lapsed")])
    assert later.counts.get("stage_conflicts", 0) == 0 and later.counts["notes"] == 1
    assert _row(provisioned, mapping, case.reference)["foi_stage"] == stage["withdrawn_or_lapsed"]
    assert "clarification_requested to withdrawn_or_lapsed" in sandbox.rows("annotation")[-1]["notetext"]


def test_reminder_tasks_at_stage_gates_are_never_duplicated(sandbox: Any, sync_settings: Any, provisioned: Any) -> None:
    # Received 30 days ago: the 20 working days are (nearly) up, so a gate has been reached.
    old = make_case(4, received_at=NOW - timedelta(days=30))
    first = run_sync(sync_settings, client=provisioned, cases=[old])
    assert first.counts["reminders"] == 1
    task = sandbox.rows("task")[0]
    assert task["subject"].startswith("FOI/2026/0004") and "alex" not in task["description"].lower()
    highways = next(t for t in sandbox.rows("team") if t["name"] == "Highways")
    assert task["_ownerid_value"] == highways["teamid"]  # assigned to the case's team, found by name
    again = run_sync(sync_settings, client=provisioned, cases=[old])
    assert again.counts.get("reminders", 0) == 0 and len(sandbox.rows("task")) == 1
    # Even with the local record lost, the deterministic task id stops a duplicate.
    with StateStore(sync_settings.sync.state_path) as st, st.transaction() as db:
        db.execute("DELETE FROM reminders")
    third = run_sync(sync_settings, client=provisioned, cases=[old])
    assert third.counts.get("reminders_existing") == 1 and len(sandbox.rows("task")) == 1


def test_dry_run_writes_nothing(sandbox: Any, sync_settings: Any, provisioned: Any) -> None:
    sandbox.reset_stats()
    report = run_sync(sync_settings, client=provisioned, cases=[make_case(i) for i in range(3)], dry_run=True)
    assert report.dry_run and report.plan["counts"]["cases"] == {"create": 3}
    assert report.plan["examples"]["create"][0] == "FOI/2026/0000"
    assert write_requests(sandbox) == 0 and sandbox.rows("incident") == []
    assert not sync_settings.sync.state_path.exists()
    # A case already in the CRM (e.g. created by hand) is announced as linked, not as a duplicate to be made.
    run_sync(sync_settings.model_copy(deep=True), client=provisioned, cases=[make_case(0)])
    sync_settings.sync.state_path = sync_settings.sync.state_path.with_name("other.sqlite")
    preview = run_sync(sync_settings, client=provisioned, cases=[make_case(i) for i in range(3)], dry_run=True)
    assert preview.plan["already_in_crm"] == {"count": 1, "examples": ["FOI/2026/0000"]}


def test_overlapping_run_is_refused_and_state_is_private(sync_settings: Any, provisioned: Any) -> None:
    run_sync(sync_settings, client=provisioned, cases=[make_case(5)])
    path = sync_settings.sync.state_path
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with lock_for(path), pytest.raises(LockError) as err:
        run_sync(sync_settings, client=provisioned, cases=[make_case(5)])
    assert err.value.exit_code == 3 and str(os.getpid()) in str(err.value)
    # State holds no requester data: no names or emails anywhere in the file.
    raw = path.read_bytes() + (
        path.with_name(path.name + "-wal").read_bytes() if path.with_name(path.name + "-wal").exists() else b""
    )
    assert b"alex" not in raw.lower() and b"example.org" not in raw.lower()


def test_deadline_fields_are_refreshed_daily(
    sandbox: Any, sync_settings: Any, provisioned: Any, mapping: TargetMapping
) -> None:
    case = make_case(6, received_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    first = run_sync(sync_settings, client=provisioned, cases=[case], today=date(2026, 3, 3))
    row = _row(provisioned, mapping, case.reference)
    rag = mapping.fields["rag_status"].choices
    assert (
        row["foi_ragstatus"] == rag["green"] and row["foi_duedate"] == "2026-03-31"
    )  # St Patrick's Day skipped (any part of the UK)
    same_day = run_sync(sync_settings, client=provisioned, cases=[case], today=date(2026, 3, 3))
    assert same_day.write_requests == 0
    later = run_sync(sync_settings, client=provisioned, cases=[case], today=date(2026, 4, 2))
    assert later.counts["updated"] == 1 and first.counts["created"] == 1
    row = _row(provisioned, mapping, case.reference)
    assert row["foi_ragstatus"] == rag["red"]
    assert row["foi_prioritygrade"] == mapping.fields["priority_grade"].choices["p1_urgent"]


def test_custom_table_mapping_end_to_end(sandbox: Any, sync_settings: Any, dv_client: Any) -> None:
    from sync_helpers import CUSTOM_MAPPING

    from connector.sync.mapping import load_target_mapping
    from connector.sync.provision import provision_schema

    custom = load_target_mapping(CUSTOM_MAPPING)
    provision_schema(dv_client, custom)
    sync_settings.sync.target_mapping = CUSTOM_MAPPING
    report = run_sync(sync_settings, client=dv_client, cases=[make_case(i) for i in range(2)])
    assert report.counts["created"] == 2
    rows = sandbox.rows("foi_request")
    contacts = {c["contactid"] for c in sandbox.rows("contact")}
    assert {r["foi_reference"] for r in rows} == {"FOI-2026-0000", "FOI-2026-0001"}
    assert all(r["_foi_requesterid_value"] in contacts for r in rows)
    assert run_sync(sync_settings, client=dv_client, cases=[make_case(i) for i in range(2)]).write_requests == 0
