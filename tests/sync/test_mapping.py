"""Target mapping files: the shipped ones load, mistakes name file/line/key and the fix, values map both ways."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sync_helpers import CUSTOM_MAPPING, INCIDENT_MAPPING, make_case

from connector.errors import MappingError
from connector.sync.mapping import MappingValueError, TargetMapping, load_target_mapping


def test_shipped_mappings_load() -> None:
    incident = load_target_mapping(INCIDENT_MAPPING)
    custom = load_target_mapping(CUSTOM_MAPPING)
    assert (incident.table, incident.entity_set, incident.alternate_key) == ("incident", "incidents", ["foi_reference"])
    assert incident.regarding_nav_email == "regardingobjectid_incident_email"
    assert "_customerid_value" in incident.pull_columns
    assert custom.create_table and custom.fields["requester"].nav == "foi_RequesterId"
    assert incident.fingerprint and incident.fingerprint != custom.fingerprint


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = INCIDENT_MAPPING.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "target.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = _broken(tmp_path, 'owner = "crm"\n\n[fields.request_text]', 'ownr = "crm"\n\n[fields.request_text]')
    with pytest.raises(MappingError) as err:
        load_target_mapping(path)
    msg = str(err.value)
    assert str(path) in msg and "fields.title.ownr" in msg and "unknown key" in msg
    line = int(msg.split(f"{path}:")[1].split(":")[0])
    assert path.read_text().splitlines()[line - 1].startswith("ownr")


def test_bad_values_say_how_to_fix(tmp_path: Path) -> None:
    path = _broken(tmp_path, "[fields.source_system]", "[fields.source_systen]")
    with pytest.raises(MappingError, match="unknown case field 'source_systen'; fix: use one of reference"):
        load_target_mapping(path)
    path = _broken(tmp_path, 'column = "foi_duedate"', 'column = "FOI Due Date"')
    with pytest.raises(MappingError, match="lower-case logical name"):
        load_target_mapping(path)
    path = _broken(tmp_path, "eir = 100000001", "eir = 100000000")
    with pytest.raises(MappingError, match="used for more than one case value"):
        load_target_mapping(path)


def test_to_crm_and_back(mapping: TargetMapping) -> None:
    case = make_case(7, received_at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC), exemptions=["s40(2)", "s43"])
    derived = {"due_date": date(2026, 4, 29), "rag_status": "green", "priority_grade": "p3_normal"}
    payload = mapping.to_crm(case, derived, binds={"requester": "/contacts(foi_requesterref='R-1')"})
    assert payload["foi_reference"] == "FOI-2026-0007"  # key-safe
    assert payload["foi_sourcereference"] == "FOI/2026/0007"
    assert payload["foi_regime"] == 100000000 and payload["foi_receivedon"] == "2026-03-31T23:30:00Z"
    assert payload["foi_duedate"] == "2026-04-29" and payload["foi_exemptions"] == "s40(2), s43"
    assert payload["customerid_contact@odata.bind"] == "/contacts(foi_requesterref='R-1')"
    row = {mapping.primary_id: "id-1", **{k: v for k, v in payload.items() if "@" not in k}}
    back = mapping.from_crm(row)
    sent = mapping.case_fields(case, derived)
    assert {k: back[k] for k in sent if k in back} == {k: sent[k] for k in sent if k in back}
    assert back["exemptions"] == ["s40(2)", "s43"] and back["regime"] == "foia"


def test_unmapped_choice_names_the_field_not_the_person(mapping: TargetMapping) -> None:
    spec = mapping.fields["regime"]
    spec.choices.pop("eir")
    case = make_case(1, regime="eir")
    with pytest.raises(MappingValueError) as err:
        mapping.to_crm(case, binds={"requester": "/contacts(foi_requesterref='R-1')"})
    assert err.value.code == "choice_unmapped" and "[fields.regime.choices]" in str(err.value)
    assert "alex" not in str(err.value).lower()
