"""The whole path once: a register row becomes a case in the CRM over real HTTP, and comes back equal.

These are the walking-skeleton checks: if any stage (intake, deadlines, mapping, MSAL, client, sandbox, pull) breaks
its contract with the next, one of these fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connector.config import IntakeSource
from connector.paths import MAPPINGS_DIR, REPO_ROOT

HEADER = (
    "Ref No,Date Received,Time Received,Request Type,Received Via,Requester Name,Email,Address,Town,Postcode,"
    "Organisation,Requester Type,Subject,Request Details,Department,Officer,Status,Date Responded,Outcome,"
    "Exemptions Applied"
)
ROWS = [
    # An apostrophe in the name, a reference with '/', unicode and an ampersand in the text: each has broken a peer.
    "FOI/2025/0417,03/03/2025,09:12,FOI,Email,Siobhán O'Brien,siobhan.obrien@example.org,1 Mill Lane,Exampleton,"
    'EX1 2AB,,Journalist,Café hygiene & food inspections,"How many food hygiene inspections did you carry out in '
    '2024, and how many cafés scored 0 or 1?",Env Svcs,,In Progress,,,',
    "EIR/2025/0031,05/03/2025,16:40,Env Info,Online form,Pat Example,pat@example.com,,,,Friends of the River,"
    'Campaign group,River sampling,"Please provide the results of water-quality sampling at the weir in 2024.",'
    "Env Svcs,,Closed,31/03/2025,Granted in full,",
]


@pytest.fixture
def e2e_settings(sandbox_settings: Any, tmp_path: Path) -> Any:
    register = tmp_path / "register.csv"
    register.write_text(HEADER + "\n" + "\n".join(ROWS) + "\n", encoding="utf-8")
    s = sandbox_settings
    s.intake.sources = [
        IntakeSource(name="e2e", kind="csv", path=str(register), mapping=MAPPINGS_DIR / "source-sample-register.toml")
    ]
    s.intake.rules = MAPPINGS_DIR / "routing-rules.toml"
    s.intake.team_calendars = MAPPINGS_DIR / "team-calendars.toml"
    s.intake.rejects_dir = tmp_path / "rejects"
    s.deadlines.holiday_overrides = MAPPINGS_DIR / "holiday-overrides.toml"
    s.sync.target_mapping = MAPPINGS_DIR / "target-incident.toml"
    s.sync.state_path = tmp_path / "state.sqlite"
    s.report.store_path = tmp_path / "reporting.sqlite"
    s.report.out_dir = tmp_path / "reports"
    return s


def test_a_case_pushed_to_the_sandbox_is_read_back_equal(e2e_settings: Any, dv_client: Any) -> None:
    from connector.intake import run_intake
    from connector.sync.job import run_sync
    from connector.sync.mapping import load_target_mapping
    from connector.sync.provision import provision_schema

    mapping = load_target_mapping(e2e_settings.sync.target_mapping)
    provision_schema(dv_client, mapping)
    intake = run_intake(e2e_settings)
    assert [c.reference for c in intake.cases] == ["FOI/2025/0417", "EIR/2025/0031"], intake.rejects

    report = run_sync(e2e_settings, client=dv_client)
    assert report.exit_code == 0, report.as_dict()
    assert dv_client.count(mapping.entity_set) == 2

    for case in intake.cases:
        row = dv_client.retrieve(mapping.entity_set, mapping.alternate_key_values(case))  # every column
        sent = mapping.case_fields(case)
        back = mapping.from_crm(row)
        assert sent, "the mapping sends no fields"
        # Pulled fields come back through the mapping; push-only ones (request text) are compared column by column.
        got = {k: back[k] if k in back else row.get(mapping.fields[k].read_column) for k in sent}
        assert got == sent

    # The requester arrived as a contact and the case points at it.
    obrien = dv_client.retrieve(
        mapping.entity_set,
        mapping.alternate_key_values(intake.cases[0]),
        select=["_customerid_value"],
    )
    contact = dv_client.retrieve("contacts", obrien["_customerid_value"], select=["lastname", "emailaddress1"])
    assert contact["emailaddress1"] == "siobhan.obrien@example.org"


def test_a_second_run_with_nothing_changed_writes_nothing(e2e_settings: Any, dv_client: Any, sandbox: Any) -> None:
    from connector.sync.job import run_sync
    from connector.sync.mapping import load_target_mapping
    from connector.sync.provision import provision_schema

    provision_schema(dv_client, load_target_mapping(e2e_settings.sync.target_mapping))
    run_sync(e2e_settings, client=dv_client)
    sandbox.app.log_requests = True
    sandbox.app.request_log.clear()
    run_sync(e2e_settings, client=dv_client)
    writes = [(m, p) for m, p, _ in sandbox.app.request_log if m in ("POST", "PATCH", "PUT", "DELETE")]
    assert writes == []


@pytest.mark.slow
def test_the_readme_demo_command_runs_end_to_end(tmp_path: Path) -> None:
    """The README's first command after installation: the whole job once on a fresh sandbox."""
    proc = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = " ".join(proc.stdout.split())
    assert "read back from the CRM │ equal" in out
    assert "write requests on the second, unchanged run │ 0" in out
    reports = tmp_path / "demo" / "reports"
    assert any(reports.glob("*.html")) and any(reports.glob("*.xlsx"))
    assert any((tmp_path / "demo" / "letters").glob("*.html"))
