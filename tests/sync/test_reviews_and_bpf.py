"""Reviews, complaints, extensions and clock pauses reach the CRM; officers' outcomes survive; the BPF follows stages."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import INCIDENT_MAPPING, NOW, make_case

from connector import odata
from connector.sandbox.schema import FOI_FLOW
from connector.sync.check import Kind, check_mapping, require_valid
from connector.sync.job import run_sync
from connector.sync.mapping import TargetMapping, load_target_mapping
from connector.sync.provision import provision_schema

S1, S2, S3, S4 = FOI_FLOW.stage_ids
RECEIVED = (NOW - timedelta(days=3)).date()


def _events(**days: int) -> list[dict[str, Any]]:
    """Clock events on RECEIVED + n days (kind=n), e.g. internal_review_requested=1."""
    return [{"kind": k, "on": RECEIVED + timedelta(days=n)} for k, n in days.items()]


def _row(client: Any, mapping: TargetMapping, reference: str) -> dict[str, Any]:
    return client.retrieve(
        mapping.entity_set, {"foi_reference": odata.key_safe(reference)}, select=mapping.pull_columns
    )


def test_review_complaint_extension_and_clock_fields_are_pushed_and_read_back(
    sync_settings: Any, provisioned: Any, mapping: TargetMapping
) -> None:
    events = _events(
        clarification_requested=0,
        clarification_received=1,
        fee_notice_issued=1,
        fee_paid=2,
        internal_review_requested=2,
        internal_review_completed=3,
        complaint_lodged=3,
    )
    events.append({"kind": "extension_pit", "on": RECEIVED + timedelta(days=1), "until": RECEIVED + timedelta(days=30)})
    case = make_case(
        40, stage="ico_complaint", clock_events=events, review_outcome="upheld_in_part", complaint_outcome="upheld"
    )
    report = run_sync(sync_settings, client=provisioned, cases=[case])
    assert report.exit_code == 0, report.errors
    row = _row(provisioned, mapping, case.reference)
    day = lambda n: (RECEIVED + timedelta(days=n)).isoformat()  # noqa: E731
    assert row["foi_clarificationrequestedon"] == day(0) and row["foi_clarificationreceivedon"] == day(1)
    assert (row["foi_feenoticeon"], row["foi_feepaidon"]) == (day(1), day(2))
    assert (row["foi_reviewrequestedon"], row["foi_reviewcompletedon"]) == (day(2), day(3))
    assert row["foi_complaintlodgedon"] == day(3)
    assert row["foi_extension"] == mapping.fields["extension"].choices["pit"]
    assert row["foi_extendeduntil"] == day(30)
    assert row["foi_reviewoutcome"] == mapping.fields["review_outcome"].choices["upheld_in_part"]
    assert row["foi_complaintoutcome"] == mapping.fields["complaint_outcome"].choices["upheld"]
    # Read back, every field equals what was sent (the demo's round trip check).
    pulled = mapping.from_crm(row)
    sent = mapping.case_fields(case)
    assert {k: pulled[k] for k in sent if k in pulled} == {k: v for k, v in sent.items() if k in pulled}
    assert pulled["review_requested_date"] == date.fromisoformat(day(2)) and pulled["extension"] == "pit"
    # Unchanged: nothing written the second time.
    assert run_sync(sync_settings, client=provisioned, cases=[case]).write_requests == 0


def test_review_outcome_recorded_in_the_crm_survives_the_next_push(
    sync_settings: Any, provisioned: Any, mapping: TargetMapping
) -> None:
    case = make_case(41, stage="response_sent", outcome="withheld_in_full", responded_at=NOW)
    run_sync(sync_settings, client=provisioned, cases=[case])
    review = mapping.fields["review_outcome"].choices
    complaint = mapping.fields["complaint_outcome"].choices
    # An officer records the review outcome and the regulator's decision in the CRM.
    provisioned.update(
        "incidents",
        {"foi_reference": "FOI-2026-0041"},
        {"foi_reviewoutcome": review["overturned"], "foi_complaintoutcome": complaint["withdrawn"]},
    )
    # The register moves on: a review is requested (connector-owned date, stage) and it carries an outcome of its
    # own (CRM-owned field: must not overwrite the officer's).
    later = make_case(
        41,
        stage="internal_review",
        outcome="withheld_in_full",
        responded_at=NOW,
        clock_events=_events(internal_review_requested=1),
        review_outcome="upheld",
    )
    report = run_sync(sync_settings, client=provisioned, cases=[later])
    assert report.exit_code == 0 and report.counts["updated"] == 1
    row = _row(provisioned, mapping, case.reference)
    assert row["foi_reviewoutcome"] == review["overturned"]
    assert row["foi_complaintoutcome"] == complaint["withdrawn"]
    assert row["foi_reviewrequestedon"] == (RECEIVED + timedelta(days=1)).isoformat()
    assert row["foi_stage"] == mapping.fields["stage"].choices["internal_review"]


def _bpf_mapping(tmp_path: Path, entity_set: str | None = None) -> Path:
    """The shipped mapping with its example [bpf] section uncommented (optionally pointed at another flow)."""
    text = INCIDENT_MAPPING.read_text(encoding="utf-8")
    head, _, tail = text.partition("# [bpf]\n")
    assert tail, "the shipped mapping lost its example [bpf] section"
    body = "[bpf]\n" + "\n".join(line.removeprefix("# ") for line in tail.splitlines()) + "\n"
    if entity_set:
        body = body.replace('entity_set = "foi_foirequestprocesses"', f'entity_set = "{entity_set}"')
    path = tmp_path / "target-incident-bpf.toml"
    path.write_text(head + body, encoding="utf-8")
    return path


def _flow(sandbox: Any, case_id: str) -> dict[str, Any]:
    rows = [r for r in sandbox.rows(FOI_FLOW.table) if r.get("_bpf_incidentid_value") == case_id]
    assert len(rows) == 1, rows
    return rows[0]


def test_stage_change_moves_the_business_process_flow_stage_by_stage(
    sandbox: Any, sync_settings: Any, provisioned: Any, tmp_path: Path
) -> None:
    path = _bpf_mapping(tmp_path)
    bpf_mapping = load_target_mapping(path)
    assert bpf_mapping.bpf is not None and bpf_mapping.bpf.path == [S1, S2, S3, S4]
    assert check_mapping(provisioned, bpf_mapping) == []  # the sandbox has the flow: mapping check is clean
    sync_settings.sync.target_mapping = path
    run_sync(sync_settings, client=provisioned, cases=[make_case(42), make_case(43, stage="in_progress")])
    case_id = _row(provisioned, bpf_mapping, "FOI/2026/0042")["incidentid"]
    # received -> acknowledged: the flow instance is created at Acknowledged (traversed path Received, Acknowledged)
    first = run_sync(sync_settings, client=provisioned, cases=[make_case(42, stage="acknowledged")])
    assert first.counts["bpf_moves"] == 1 and not first.counts.get("bpf_failed")
    flow = _flow(sandbox, case_id)
    assert (flow["_activestageid_value"], flow["traversedpath"]) == (S2, f"{S1},{S2}")
    # acknowledged -> response_sent jumps a stage: Dataverse allows only next/previous, so it is walked through
    moved = run_sync(sync_settings, client=provisioned, cases=[make_case(42, stage="response_sent", responded_at=NOW)])
    assert moved.counts["bpf_moves"] == 1 and not moved.counts.get("bpf_failed"), moved.counts
    flow = _flow(sandbox, case_id)
    assert (flow["_activestageid_value"], flow["traversedpath"]) == (S4, f"{S1},{S2},{S3},{S4}")
    # a stage the flow does not name (withdrawn) leaves it where it is
    again = run_sync(sync_settings, client=provisioned, cases=[make_case(42, stage="withdrawn_or_lapsed")])
    assert not again.counts.get("bpf_moves") and _flow(sandbox, case_id)["_activestageid_value"] == S4
    # and another case going back a stage (in_progress -> acknowledged) moves its flow back
    other_id = _row(provisioned, bpf_mapping, "FOI/2026/0043")["incidentid"]
    run_sync(sync_settings, client=provisioned, cases=[make_case(43, stage="response_sent", responded_at=NOW)])
    back = run_sync(sync_settings, client=provisioned, cases=[make_case(43, stage="acknowledged")])
    assert back.counts["bpf_moves"] == 1
    assert _flow(sandbox, other_id)["traversedpath"] == f"{S1},{S2}"


def test_a_tenant_without_the_flow_warns_and_still_syncs(
    sandbox: Any, sync_settings: Any, dv_client: Any, tmp_path: Path
) -> None:
    path = _bpf_mapping(tmp_path, entity_set="foi_councilrequestprocesses")
    mapping = load_target_mapping(path)
    provision_schema(dv_client, mapping)
    problems = require_valid(dv_client, mapping)  # warnings only: does not raise
    assert [(p.kind, p.severity, p.key) for p in problems] == [(Kind.BPF, "warning", "bpf.entity_set")]
    assert "foi_councilrequestprocesses" in problems[0].problem and "remove [bpf]" in problems[0].fix
    sync_settings.sync.target_mapping = path
    run_sync(sync_settings, client=dv_client, cases=[make_case(44)])
    report = run_sync(sync_settings, client=dv_client, cases=[make_case(44, stage="in_progress")])
    assert report.exit_code == 0 and report.counts["notes"] == 1
    assert not report.counts.get("bpf_moves") and not report.counts.get("bpf_failed")
    assert any("business process flow" in w for w in report.warnings)
    assert sandbox.rows(FOI_FLOW.table) == []


def test_unknown_stage_ids_are_a_warning(dv_client: Any, tmp_path: Path) -> None:
    text = _bpf_mapping(tmp_path).read_text(encoding="utf-8").replace(S4, "00000000-0000-0000-0000-0000000000aa")
    path = tmp_path / "bad-stage.toml"
    path.write_text(text, encoding="utf-8")
    mapping = load_target_mapping(path)
    provision_schema(dv_client, mapping)
    problems = check_mapping(dv_client, mapping)
    assert [(p.key, p.severity) for p in problems] == [("bpf.stage_ids", "warning")]


@pytest.mark.parametrize(
    ("stage_ids", "message"),
    [({"reviewed": S1}, "not a case stage"), ({"received": "stage-one"}, "not a processstage id")],
)
def test_bpf_section_mistakes_name_the_key(tmp_path: Path, stage_ids: dict[str, str], message: str) -> None:
    from connector.errors import MappingError

    text = INCIDENT_MAPPING.read_text(encoding="utf-8")
    text += '\n[bpf]\nentity_set = "x"\ncase_nav = "bpf_incidentid"\ncase_lookup_column = "bpf_incidentid"\n'
    text += "[bpf.stage_ids]\n" + "".join(f'{k} = "{v}"\n' for k, v in stage_ids.items())
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_target_mapping(path)
    assert "bpf.stage_ids" in str(err.value) and message in str(err.value)


def test_upgrading_the_mapping_sends_only_the_new_columns_that_have_values(
    sandbox: Any, sync_settings: Any, provisioned: Any, mapping: TargetMapping, tmp_path: Path
) -> None:
    # Before the upgrade: the mapping had no review dates.
    text = INCIDENT_MAPPING.read_text(encoding="utf-8")
    start, end = text.index("[fields.review_requested_date]"), text.index("[fields.complaint_date]")
    old = tmp_path / "before.toml"
    old.write_text(text[:start] + text[end:], encoding="utf-8")
    sync_settings.sync.target_mapping = old
    quiet, reviewed = make_case(45), make_case(46, clock_events=_events(internal_review_requested=1))
    run_sync(sync_settings, client=provisioned, cases=[quiet, reviewed])
    # After: the same cases; only the one with a review date is written, and only that column.
    sync_settings.sync.target_mapping = INCIDENT_MAPPING
    sandbox.reset_stats()
    report = run_sync(sync_settings, client=provisioned, cases=[quiet, reviewed])
    assert report.counts["updated"] == 1 and report.counts["unchanged_crm_owned"] == 1
    assert report.plan["examples"]["update"] == [
        "FOI/2026/0045 (mapping changed; nothing to send)",
        "FOI/2026/0046 (foi_reviewrequestedon)",
    ]
    assert (
        _row(provisioned, mapping, "FOI/2026/0046")["foi_reviewrequestedon"]
        == (RECEIVED + timedelta(days=1)).isoformat()
    )
    assert run_sync(sync_settings, client=provisioned, cases=[quiet, reviewed]).write_requests == 0
