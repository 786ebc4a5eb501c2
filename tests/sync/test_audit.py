"""Audit notes on the case timeline and `foi-sync audit` / `foi-sync runs`, over real HTTP to the sandbox.

A register row with no department is routed by the 'parking' routing rule (its keywords "penalty charge" and "car park"
are in the text: hand-checked against mappings/routing-rules.toml). The first sync creates it; the second, after
the register changed the request type to EIR and added an exemption, records a regime change and a field change.
`foi-sync audit` then prints creation, routing and the field change from the CRM's notes and the local ledger, and
no note ever quotes the requester.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sync_helpers import INCIDENT_MAPPING

from connector import odata
from connector.cli import cli
from connector.config import IntakeSource
from connector.paths import MAPPINGS_DIR
from connector.sync.job import run_sync

HEADER = (
    "Ref No,Date Received,Time Received,Request Type,Received Via,Requester Name,Email,Address,Town,Postcode,"
    "Organisation,Requester Type,Subject,Request Details,Department,Status,Date Responded,Outcome,"
    "Exemptions Applied,Officer"
)
NAME, EMAIL = "Morwenna Quillfeather", "morwenna.q@example.org"
TEXT = "How many penalty charge notices did the council issue in each car park last year, by month?"


def _register(path: Path, regime: str, exemptions: str) -> None:
    received = (date.today() - timedelta(days=2)).strftime("%d/%m/%Y")
    row = (
        f"FOI/2026/0101,{received},10:15,{regime},Email,{NAME},{EMAIL},,,,,Member of public,"
        f'Car park tickets,"{TEXT}",,Open,,,{exemptions},'
    )
    path.write_text(HEADER + "\n" + row + "\n", encoding="utf-8")


@pytest.fixture
def settings(sync_settings: Any, tmp_path: Path) -> Any:
    register = tmp_path / "register.csv"
    sync_settings.intake.sources = [
        IntakeSource(
            name="register", kind="csv", path=str(register), mapping=MAPPINGS_DIR / "source-sample-register.toml"
        )
    ]
    sync_settings.intake.rules = MAPPINGS_DIR / "routing-rules.toml"
    sync_settings.intake.triage_rules = MAPPINGS_DIR / "triage-rules.toml"
    return sync_settings


def _config(tmp_path: Path, sandbox: Any, settings: Any) -> Path:
    path = tmp_path / "foi-sync.toml"
    src = settings.intake.sources[0]
    path.write_text(
        f'[dataverse]\nurl = "{sandbox.url}"\nauthority_host = "{sandbox.https_url}"\nca_bundle = "{sandbox.ca_bundle}"\n'
        f'[sync]\ntarget_mapping = "{INCIDENT_MAPPING}"\nstate_path = "{settings.sync.state_path}"\n'
        f'[intake]\nrejects_dir = "{tmp_path / "rejects"}"\n'
        f'[[intake.sources]]\nname = "register"\nkind = "csv"\npath = "{src.path}"\nmapping = "{src.mapping}"\n'
        f'[report]\nstore_path = "{settings.report.store_path}"\nout_dir = "{tmp_path / "reports"}"\n',
        encoding="utf-8",
    )
    return path


def _notes(client: Any) -> list[dict[str, Any]]:
    case = next(
        iter(client.query("incidents", select=["incidentid"], filter=odata.eq("foi_reference", "FOI-2026-0101")))
    )
    return list(
        client.query(
            "annotations",
            select=["subject", "notetext"],
            filter=odata.eq("_objectid_value", odata.Guid(case["incidentid"])),
        )
    )


def test_audit_shows_creation_routing_and_a_field_change(
    settings: Any, provisioned: Any, sandbox: Any, tmp_path: Path
) -> None:
    register = Path(settings.intake.sources[0].path)
    _register(register, "Freedom of Information", "")
    first = run_sync(settings, client=provisioned)
    assert first.exit_code == 0, first.errors
    assert first.counts["created"] == 1
    assert first.counts["audit_notes"] == 2  # created + routing

    notes = {n["subject"]: n["notetext"] for n in _notes(provisioned)}
    assert "FOI audit: case created (FOIA)" in notes
    routing = notes["FOI audit: routing - rule"]
    assert "routed to Parking (team Parking Services) by routing rule 'parking'" in routing
    # The parking rule hits "penalty charge" and "car park" (2 keyword hits, weight 1), nothing else: 2 / (2 + 0 + 1).
    assert "confidence 0.67" in routing

    _register(register, "Env Info", "s43")
    second = run_sync(settings, client=provisioned)
    assert second.exit_code == 0, second.errors
    notes = {n["subject"]: n["notetext"] for n in _notes(provisioned)}
    assert "FOI audit: regime FOIA -> EIR" in notes
    fields = notes["FOI audit: fields updated"]
    assert "exemptions (foi_exemptions)" in fields and "regime (foi_regime)" in fields
    assert "s43" not in fields  # names of fields, never their values
    for text in [*notes, *notes.values()]:
        assert NAME not in text and EMAIL not in text and "penalty charge notices did" not in text

    # A third run with nothing changed writes no further audit note.
    third = run_sync(settings, client=provisioned)
    assert third.counts.get("audit_notes", 0) == 0

    config = _config(tmp_path, sandbox, settings)
    res = CliRunner().invoke(cli, ["--config", str(config), "audit", "FOI/2026/0101"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "FOI audit: case created (FOIA)" in out
    assert "by routing rule 'parking'" in out
    assert "exemptions (foi_exemptions)" in out
    ledger = out.split("Local run ledger", 1)[1]
    assert f"run {first.run_id} (sync)  created:" in ledger
    assert f"run {first.run_id} (sync)  routing:" in ledger
    assert f"run {second.run_id} (sync)  fields:" in ledger
    assert NAME not in out and EMAIL not in out

    res = CliRunner().invoke(cli, ["--config", str(config), "audit", "FOI/2026/0101", "--json"])
    data = json.loads(res.output)
    assert [e["kind"] for e in data["ledger"]] == ["created", "routing", "regime", "fields"]

    res = CliRunner().invoke(cli, ["--config", str(config), "runs", "--json"])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.output)
    assert [r["run_id"] for r in listed] == [third.run_id, second.run_id, first.run_id]
    assert listed[2]["counts"]["created"] == 1 and listed[2]["status"] == "ok"
    res = CliRunner().invoke(cli, ["--config", str(config), "runs"])
    assert res.exit_code == 0 and first.run_id in res.output

    res = CliRunner().invoke(cli, ["--config", str(config), "audit", "FOI/2099/9999"])
    assert res.exit_code == 1 and "no case 'FOI/2099/9999'" in res.output


def _register_with_department(path: Path, department: str) -> None:
    _register(path, "Freedom of Information", "")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(',"' + TEXT + '",,Open,', ',"' + TEXT + f'",{department},Open,'), encoding="utf-8")


@pytest.mark.parametrize("owner", ["crm", "connector"])
def test_a_new_routing_answer_is_noted_only_where_the_connector_writes_the_routing(
    owner: str, settings: Any, provisioned: Any, tmp_path: Path
) -> None:
    """The shipped mappings leave service area and team to the CRM after creation (owner = "crm"), so when intake
    later routes an existing case elsewhere nothing changes in the CRM, and no note may say it did. With the
    routing columns owned by the connector, the new routing is written and noted."""
    mapping = tmp_path / "mapping.toml"
    text = INCIDENT_MAPPING.read_text(encoding="utf-8")
    block = '[fields.service_area]\ncolumn = "foi_servicearea"\ntype = "string"\nmax_length = 100\nowner = "crm"'
    assert block in text
    mapping.write_text(text.replace(block, block.replace('"crm"', f'"{owner}"')), encoding="utf-8")
    settings.sync.target_mapping = mapping
    register = Path(settings.intake.sources[0].path)
    _register(register, "Freedom of Information", "")  # no department: the 'parking' rule routes it
    assert run_sync(settings, client=provisioned).exit_code == 0

    _register_with_department(register, "Highways")  # the register now names the department (synonyms widen it)
    second = run_sync(settings, client=provisioned)
    assert second.exit_code == 0, second.errors
    subjects = [n["subject"] for n in _notes(provisioned)]
    area = next(
        iter(
            provisioned.query(
                "incidents", select=["foi_servicearea"], filter=odata.eq("foi_reference", "FOI-2026-0101")
            )
        )
    )["foi_servicearea"]
    if owner == "crm":
        assert area == "Parking" and not [s for s in subjects if s.startswith("FOI audit: routing changed")]
    else:
        assert area == "Highways and Transport" and "FOI audit: routing changed - source" in subjects
