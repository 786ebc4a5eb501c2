"""`mapping check` against the sandbox's live metadata: every kind of mismatch is caught, each with a fix."""

from __future__ import annotations

from typing import Any

import pytest
from sync_helpers import CUSTOM_MAPPING

from connector.errors import MappingError
from connector.sync.check import Kind, check_mapping, require_valid
from connector.sync.mapping import FieldMap, TargetMapping, load_target_mapping
from connector.sync.provision import provision_schema


def test_provisioned_mapping_is_clean(provisioned: Any, mapping: TargetMapping) -> None:
    assert check_mapping(provisioned, mapping) == []
    assert provision_schema(provisioned, mapping)["columns"] == []  # idempotent: nothing left to create


def test_custom_table_missing_then_provisioned(dv_client: Any) -> None:
    custom = load_target_mapping(CUSTOM_MAPPING)
    kinds = {p.kind for p in check_mapping(dv_client, custom) if p.severity == "error"}
    assert Kind.TABLE_MISSING in kinds
    done = provision_schema(dv_client, custom)
    assert done["tables"] == ["foi_request"] and done["relationships"] and done["keys"]
    assert [p for p in check_mapping(dv_client, custom) if p.severity == "error"] == []


def test_every_kind_of_mismatch(provisioned: Any, mapping: TargetMapping) -> None:
    m = mapping.model_copy(deep=True)
    m.entity_set = "Incidents"
    m.primary_id = "caseid"
    m.fields["due_date"].column = "foi_duedatex"
    m.fields["exemptions"].type = "date"
    m.fields["reference"].max_length = 5000
    m.fields["regime"].choices["eir"] = 999
    del m.fields["stage"].choices["ico_complaint"]
    m.fields["requester"].nav = "customerid_Contact"
    m.fields["assigned_team"].target = "queue"
    del m.fields["title"]
    m.contact.fields["full_name"] = FieldMap(column="fullname", type="string", max_length=160)
    m.contact.alternate_key = ["emailaddress1", "lastname"]
    m.regarding_nav_email = "regardingobjectid_incident"
    problems = check_mapping(provisioned, m)
    by_kind = {p.kind: p for p in problems}
    expected = {
        Kind.ENTITY_SET: "entity_set",
        Kind.PRIMARY_ID: "primary_id",
        Kind.COLUMN_MISSING: "fields.due_date.column",
        Kind.TYPE: "fields.exemptions.type",
        Kind.MAX_LENGTH: "fields.reference.max_length",
        Kind.CHOICE_VALUE: "fields.regime.choices.eir",
        Kind.CHOICE_UNMAPPED: "fields.stage.choices",
        Kind.NAV: "fields.requester.nav",
        Kind.LOOKUP_TARGET: "fields.assigned_team.target",
        Kind.REQUIRED: "fields",
        Kind.READ_ONLY: "contact.fields.full_name.column",
        Kind.KEY_MISSING: "contact.alternate_key",
        Kind.REGARDING: "regarding_nav_email",
    }
    for kind, key in expected.items():
        assert kind in by_kind, f"{kind} not reported"
        assert by_kind[kind].key == key
        assert by_kind[kind].fix and str(m.source_path) in str(by_kind[kind])
    assert "'customerid_contact'" in by_kind[Kind.NAV].problem  # case-sensitivity hint
    assert "title" in by_kind[Kind.REQUIRED].problem
    assert 'set regarding_nav_email = "regardingobjectid_incident_email"' in by_kind[Kind.REGARDING].fix
    assert by_kind[Kind.CHOICE_UNMAPPED].severity == "warning"
    with pytest.raises(MappingError, match="nothing was written"):
        require_valid(provisioned, m)


def test_alternate_key_index_failed(provisioned: Any, mapping: TargetMapping) -> None:
    """Dataverse fails to build a key's index over duplicate values; the check says so and how to fix it."""
    contact = provisioned.create("contacts", {"lastname": "Example"})
    for n in range(2):
        provisioned.create(
            "incidents",
            {
                "title": f"dup {n}",
                "foi_reference": f"FOI-DUP-{n}",
                "foi_sourcereference": "SAME",
                "customerid_contact@odata.bind": f"/contacts({contact})",
            },
        )
    provisioned.transport.request(
        "POST",
        "EntityDefinitions(LogicalName='incident')/Keys",
        json={"SchemaName": "foi_incident_srcref", "KeyAttributes": ["foi_sourcereference"]},
    )
    m = mapping.model_copy(deep=True)
    m.alternate_key = ["foi_sourcereference"]
    p = next(p for p in check_mapping(provisioned, m) if p.kind == Kind.KEY_INACTIVE)
    assert "Failed" in p.problem and "duplicate" in p.fix and "ReactivateEntityKey" in p.fix
