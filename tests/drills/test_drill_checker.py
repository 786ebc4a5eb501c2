"""The drills' CRM-vs-source checks themselves: foi-sync's-plan check and the independent oracle
(scripts/drill_oracle.py) must each see a lost record and a changed column, and the plan check a duplicate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import drill_oracle
import requests
from bench_migration import (
    TODAY,
    compare_crm,
    duplicates_in,
    expected_plan,
    normalised_cases,
    provision,
    register_rows,
    settings_for,
    write_register,
)

from connector.sync.job import run_migrate
from connector.sync.mapping import load_target_mapping


def test_check_catches_loss_change_and_duplicates(sandbox: Any, tmp_path: Path, quiet_logs: None) -> None:
    settings = settings_for(sandbox, tmp_path / "run")
    provision(settings)
    register = write_register(tmp_path / "register.csv", register_rows(40, seed=5))
    cases, rejects = normalised_cases(settings, register)
    assert len(cases) == 40 and not rejects
    report = run_migrate(settings, register, None, cases=cases, today=TODAY)
    assert report.exit_code == 0
    mapping = load_target_mapping(settings.sync.target_mapping)
    plan = expected_plan(settings, cases)
    clean = compare_crm(sandbox.rows, plan, mapping)
    assert clean["ok"], clean
    assert (clean["crm_cases"], clean["lost_cases"], clean["mismatched_fields"]) == (40, 0, 0)
    oracle = drill_oracle.check(register, sandbox.api_url, sandbox.issue_token)
    assert oracle["ok"] and (oracle["checked_cases"], oracle["mismatched"]) == (40, 0), oracle

    # Break the CRM behind the connector's back, over the Web API: one case deleted, two columns changed (one that
    # only the plan check covers, and the received date, a key column both cover).
    api = sandbox.api_url
    headers = {"Authorization": f"Bearer {sandbox.issue_token()}", "Content-Type": "application/json"}
    rows = sandbox.rows("incident")
    gone, changed, moved = rows[0], rows[1], rows[2]
    assert requests.delete(f"{api}incidents({gone['incidentid']})", headers=headers, timeout=10).status_code == 204
    r = requests.patch(
        f"{api}incidents({changed['incidentid']})", json={"foi_exemptions": "s99"}, headers=headers, timeout=10
    )
    assert r.status_code == 204
    r = requests.patch(
        f"{api}incidents({moved['incidentid']})",
        json={"foi_receivedon": "2020-01-01T00:00:00Z"},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 204
    broken = compare_crm(sandbox.rows, plan, mapping)
    assert not broken["ok"]
    assert broken["lost_cases"] == 1 and broken["mismatched_fields"] == 2
    seen = drill_oracle.check(register, sandbox.api_url, sandbox.issue_token)
    assert not seen["ok"] and seen["lost"] == 1 and seen["by_column"] == {"foi_receivedon": 1}, seen
    assert any(e.startswith(f"{moved['foi_sourcereference']}: foi_receivedon") for e in seen["examples"])

    # A second note with the same subject on the same case counts as a duplicate.
    notes = [{"_objectid_value": "a", "subject": "Stage"}, {"_objectid_value": "a", "subject": "Stage"}]
    assert duplicates_in(notes, "_objectid_value", "subject") == 1
    assert duplicates_in(notes[:1], "_objectid_value", "subject") == 0
