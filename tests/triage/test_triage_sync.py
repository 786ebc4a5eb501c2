"""The 48 hand-labelled requests through intake AND a sync to the sandbox, checked in the CRM over HTTP.

Each case lands at the stage its hand-written expectation says (received / invalid / rerouted), with its triage
status and explanation; invalid and re-routed ones get no due date and a drafted reply (advice and assistance,
routing reply); an officer's override set in the CRM sticks on the next sync.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import REQUESTS, REQUESTS_MAPPING, expected

from connector import odata
from connector.config import IntakeSource
from connector.letters.push import activity_id
from connector.paths import MAPPINGS_DIR
from connector.sync.job import run_sync
from connector.sync.mapping import load_target_mapping
from connector.sync.provision import provision_schema

STAGE_FOR = {"request": "received", "invalid": "invalid", "business_as_usual": "rerouted"}
LETTER_FOR = {"invalid": "advice_and_assistance", "business_as_usual": "routing_reply", "request": "acknowledgement"}
DRAFT = 0


@pytest.fixture
def sync_settings(sandbox_settings: Any, tmp_path: Path) -> Any:
    s = sandbox_settings
    s.intake.sources = [IntakeSource(name="fixtures", kind="csv", path=str(REQUESTS), mapping=REQUESTS_MAPPING)]
    s.intake.rejects_dir = tmp_path / "rejects"
    s.sync.target_mapping = MAPPINGS_DIR / "target-incident.toml"
    s.sync.state_path = tmp_path / "state.sqlite"
    s.report.store_path = tmp_path / "reporting.sqlite"
    s.report.out_dir = tmp_path / "reports"
    return s


def _choice(mapping: Any, field: str, code: int) -> str:
    return {v: k for k, v in mapping.fields[field].choices.items()}[code]


def test_fixture_requests_land_at_their_triage_stage_with_drafted_replies_and_overrides_stick(
    sync_settings: Any, dv_client: Any
) -> None:
    mapping = load_target_mapping(sync_settings.sync.target_mapping)
    provision_schema(dv_client, mapping)
    report = run_sync(sync_settings, client=dv_client)
    assert report.exit_code == 0, report.as_dict()

    want = expected()
    cols = [
        "incidentid",
        "foi_sourcereference",
        "foi_stage",
        "foi_regime",
        "foi_triage",
        "foi_triagestatus",
        "foi_triageexplanation",
        "foi_duedate",
        "foi_casetype",
        "foi_servicearea",
    ]
    rows = {r["foi_sourcereference"]: r for r in dv_client.query("incidents", select=cols)}
    assert set(rows) == set(want)
    wrong = []
    for ref, exp in want.items():
        row = rows[ref]
        got = (_choice(mapping, "stage", row["foi_stage"]), _choice(mapping, "regime", row["foi_regime"]))
        if got != (STAGE_FOR[exp["ExpectTriage"]], exp["ExpectRegime"]):
            wrong.append(f"{ref}: {got} expected {(STAGE_FOR[exp['ExpectTriage']], exp['ExpectRegime'])}")
        assert row["foi_triageexplanation"], ref
        no_clock = exp["ExpectTriage"] != "request"
        assert (row["foi_duedate"] is None) == no_clock, f"{ref}: due {row['foi_duedate']}"
    assert wrong == []

    # "invalid: reason" reads in the CRM; business as usual is a service request for the service's team.
    assert rows["T-039"]["foi_triagestatus"] == "invalid: no address for correspondence"
    assert rows["T-037"]["foi_triagestatus"] == "invalid: obvious pseudonym"
    assert _choice(mapping, "case_type", rows["T-026"]["foi_casetype"]) == "service_request"
    assert rows["T-026"]["foi_servicearea"] == "Waste and Recycling"

    # One drafted reply per case, of the kind its triage calls for, regarding that case.
    emails = {
        e["activityid"]: e
        for e in dv_client.query(
            "emails", select=["activityid", "subject", "statecode", "description", "_regardingobjectid_value"]
        )
    }
    for ref, exp in want.items():
        aid = activity_id(ref, LETTER_FOR[exp["ExpectTriage"]])
        assert aid in emails, f"{ref}: no {LETTER_FOR[exp['ExpectTriage']]} email"
        email = emails[aid]
        assert email["statecode"] == DRAFT  # draft mode: the officer checks and sends it
        assert email["_regardingobjectid_value"] == rows[ref]["incidentid"]
        if exp["ExpectTriage"] != "request":  # no acknowledgement (and no clock) for invalid or re-routed requests
            assert activity_id(ref, "acknowledgement") not in emails, ref
    advice = emails[activity_id("T-039", "advice_and_assistance")]["description"]
    assert "section 8(1)" in advice and "no address for correspondence" in advice and "section 16" in advice
    scots = emails[activity_id("T-041", "advice_and_assistance")]["description"]
    assert "section 15 of the Act" in scots and "Freedom of Information (Scotland) Act 2002" in scots
    routing = emails[activity_id("T-026", "routing_reply")]["description"]
    assert "Waste Services team" in routing and "report-a-missed-bin" in routing

    # The officer decides T-034 ('Anonymous') is a valid request after all, and that the missed-bin message T-026
    # is a FOI request. Both overrides are CRM-owned and stick on the next sync (and the one after).
    codes = mapping.fields["triage_override"].choices
    for ref, override in (("T-034", "as_request"), ("T-026", "as_foi")):
        dv_client.update("incidents", rows[ref]["incidentid"], {"foi_triageoverride": codes[override]})
    for _ in range(2):
        report = run_sync(sync_settings, client=dv_client)
        assert report.exit_code == 0, report.as_dict()
        for ref in ("T-034", "T-026"):
            row = dv_client.retrieve("incidents", rows[ref]["incidentid"], select=[*cols, "foi_triageoverride"])
            assert _choice(mapping, "stage", row["foi_stage"]) == "received", ref
            assert row["foi_duedate"] is not None  # the FOIA clock runs now
            assert "Officer override" in row["foi_triageexplanation"]
            assert _choice(mapping, "triage_override", row["foi_triageoverride"]) in ("as_request", "as_foi")
    acks = list(
        dv_client.query(
            "emails",
            select=["activityid"],
            filter=odata.eq("activityid", odata.Guid(activity_id("T-034", "acknowledgement"))),
        )
    )
    assert len(acks) == 1
