"""``foi-sync mapping provision``: create what a target mapping needs in the tenant through the metadata API.

Creates (only what is missing, so it is safe to run again): the custom table when ``create_table = true``, every
custom column (``foi_...``) with its type, maximum length and choice options, lookup relationships for custom
lookups, and the alternate keys the upserts use. Standard columns are never created or changed; if one is missing
the run says so. Rehearse it on the sandbox (``foi-sync sandbox`` + ``mapping provision``) before a real tenant.

Microsoft documents these as ``POST EntityDefinitions``, ``POST EntityDefinitions(LogicalName='x')/Attributes``,
``POST RelationshipDefinitions`` and ``POST EntityDefinitions(LogicalName='x')/Keys``. Alternate keys are indexed
asynchronously: run ``foi-sync mapping check`` until the key shows Active.
"""

from __future__ import annotations

import logging
from typing import Any

from connector import odata
from connector.dataverse.client import DataverseClient
from connector.dataverse.errors import NotFound
from connector.dataverse.metadata import TableMetadata
from connector.sync.mapping import FieldMap, TargetMapping

log = logging.getLogger(__name__)

NS = "Microsoft.Dynamics.CRM."
#: Columns every new user-owned table gets from the platform.
_PLATFORM = {"ownerid", "statecode", "statuscode", "createdon", "modifiedon", "versionnumber"}


def _label(text: str) -> dict[str, Any]:
    return {
        "@odata.type": NS + "Label",
        "LocalizedLabels": [{"@odata.type": NS + "LocalizedLabel", "Label": text, "LanguageCode": 1033}],
    }


def _required(flag: bool) -> dict[str, Any]:
    return {
        "Value": "ApplicationRequired" if flag else "None",
        "CanBeChanged": True,
        "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
    }


def schema_name(logical: str) -> str:
    """foi_duedate -> foi_Duedate: Dataverse derives the logical name by lower-casing the SchemaName."""
    prefix, _, rest = logical.partition("_")
    return f"{prefix}_{rest[:1].upper()}{rest[1:]}" if rest else logical


def _words(name: str) -> str:
    return name.replace("_", " ").capitalize()


def attribute_body(name: str, spec: FieldMap) -> dict[str, Any]:
    """The AttributeMetadata JSON Microsoft documents for creating a column of the mapping's type."""
    display = spec.display_name or _words(name)
    base: dict[str, Any] = {
        "SchemaName": schema_name(spec.column),
        "DisplayName": _label(display),
        "Description": _label(f"{display} (created by foi-sync)"),
        "RequiredLevel": _required(spec.required),
    }
    t = spec.type
    if t == "string":
        return {
            "@odata.type": NS + "StringAttributeMetadata",
            **base,
            "AttributeType": "String",
            "AttributeTypeName": {"Value": "StringType"},
            "MaxLength": spec.max_length or 100,
            "FormatName": {"Value": "Text"},
        }
    if t == "memo":
        return {
            "@odata.type": NS + "MemoAttributeMetadata",
            **base,
            "AttributeType": "Memo",
            "AttributeTypeName": {"Value": "MemoType"},
            "Format": "TextArea",
            "MaxLength": spec.max_length or 100_000,
        }
    if t == "choice":
        return {
            "@odata.type": NS + "PicklistAttributeMetadata",
            **base,
            "AttributeType": "Picklist",
            "AttributeTypeName": {"Value": "PicklistType"},
            "OptionSet": {
                "@odata.type": NS + "OptionSetMetadata",
                "IsGlobal": False,
                "OptionSetType": "Picklist",
                "Options": [
                    {"Value": value, "Label": _label(spec.labels.get(case_value) or _words(case_value))}
                    for case_value, value in spec.choices.items()
                ],
            },
        }
    if t in ("date", "datetime"):
        return {
            "@odata.type": NS + "DateTimeAttributeMetadata",
            **base,
            "AttributeType": "DateTime",
            "AttributeTypeName": {"Value": "DateTimeType"},
            "Format": "DateOnly" if t == "date" else "DateAndTime",
            "DateTimeBehavior": {"Value": "DateOnly" if t == "date" else "UserLocal"},
        }
    if t == "integer":
        return {
            "@odata.type": NS + "IntegerAttributeMetadata",
            **base,
            "AttributeType": "Integer",
            "AttributeTypeName": {"Value": "IntegerType"},
            "Format": "None",
            "MinValue": -2147483648,
            "MaxValue": 2147483647,
        }
    if t == "boolean":
        return {
            "@odata.type": NS + "BooleanAttributeMetadata",
            **base,
            "AttributeType": "Boolean",
            "AttributeTypeName": {"Value": "BooleanType"},
            "OptionSet": {
                "@odata.type": NS + "BooleanOptionSetMetadata",
                "TrueOption": {"Value": 1, "Label": _label("Yes")},
                "FalseOption": {"Value": 0, "Label": _label("No")},
            },
        }
    raise ValueError(f"cannot provision a column of type {t}")


def relationship_body(table: str, name: str, spec: FieldMap) -> dict[str, Any]:
    """A one-to-many relationship whose lookup is the mapping's custom lookup column."""
    assert spec.target is not None
    return {
        "@odata.type": NS + "OneToManyRelationshipMetadata",
        "SchemaName": f"{spec.column.partition('_')[0]}_{spec.target}_{table}_{spec.column.partition('_')[2]}",
        "ReferencedEntity": spec.target,
        "ReferencedAttribute": f"{spec.target}id",
        "ReferencingEntity": table,
        "ReferencingEntityNavigationPropertyName": spec.nav,
        "Lookup": {
            "@odata.type": NS + "LookupAttributeMetadata",
            "AttributeType": "Lookup",
            "AttributeTypeName": {"Value": "LookupType"},
            "SchemaName": spec.nav or schema_name(spec.column),
            "DisplayName": _label(spec.display_name or _words(name)),
            "RequiredLevel": _required(spec.required),
        },
    }


class _Provisioner:
    def __init__(self, client: DataverseClient, mapping: TargetMapping, dry_run: bool, solution: str | None) -> None:
        self.client = client
        self.m = mapping
        self.dry_run = dry_run
        self.headers = {"MSCRM.SolutionUniqueName": solution} if solution else {}
        self.done: dict[str, list[str]] = {"tables": [], "columns": [], "relationships": [], "keys": [], "manual": []}

    def post(self, path: str, body: dict[str, Any]) -> None:
        if self.dry_run:
            return
        self.client.transport.request("POST", path, json=body, headers=self.headers or None)

    def table(self, logical: str) -> TableMetadata | None:
        try:
            return self.client.metadata.table(logical, refresh=True)
        except NotFound:
            return None

    def run(self) -> dict[str, list[str]]:
        m = self.m
        self.ensure(m.table, m.fields, m.alternate_key, m.alternate_key_name, create=m.create_table)
        c = m.contact
        self.ensure(c.table, c.fields, c.alternate_key, c.alternate_key_name, create=False)
        if not self.dry_run:
            self.client.metadata.clear()
        return self.done

    def ensure(
        self, logical: str, fields: dict[str, FieldMap], key_cols: list[str], key_name: str, *, create: bool
    ) -> None:
        md = self.table(logical)
        path = f"EntityDefinitions(LogicalName={odata.literal(odata.name(logical))})"
        if md is None:
            if not create:
                self.done["manual"].append(
                    f"table '{logical}' does not exist and is a standard table; install it or correct the mapping"
                )
                return
            self.create_table(logical, fields)
            md = self.table(logical) if not self.dry_run else None
        existing = set(md.attributes) if md is not None else set()
        for name, spec in fields.items():
            if spec.column in existing:
                continue
            if md is None and (self._is_primary_name(spec) or spec.column in _PLATFORM):
                continue  # a table about to be created (dry run) comes with these
            if "_" not in spec.column or spec.column.split("_")[0] in ("address1", "address2"):
                self.done["manual"].append(
                    f"column '{spec.column}' on '{logical}' is missing and is not a custom (prefix_) column; "
                    "correct the mapping"
                )
                continue
            if spec.type == "lookup":
                self.post("RelationshipDefinitions", relationship_body(logical, name, spec))
                self.done["relationships"].append(f"{logical}.{spec.column} -> {spec.target}")
                continue
            self.post(f"{path}/Attributes", attribute_body(name, spec))
            self.done["columns"].append(f"{logical}.{spec.column}")
        has_key = md is not None and md.key_for(key_cols) is not None
        if not has_key:
            self.post(
                f"{path}/Keys",
                {"SchemaName": key_name, "DisplayName": _label(key_name), "KeyAttributes": list(key_cols)},
            )
            self.done["keys"].append(f"{logical}.{key_name} ({', '.join(key_cols)})")

    def _is_primary_name(self, spec: FieldMap) -> bool:
        return spec.column == self.m.primary_name

    def create_table(self, logical: str, fields: dict[str, FieldMap]) -> None:
        m = self.m
        primary = m.primary_name or f"{logical.partition('_')[0]}_name"
        spec = m.field_for_column(primary)
        name_attr = attribute_body("name", spec or FieldMap(column=primary, type="string", max_length=200))
        name_attr["IsPrimaryName"] = True
        name_attr["RequiredLevel"] = _required(True)
        display = m.table_display_name or _words(logical.partition("_")[2] or logical)
        body = {
            "@odata.type": NS + "EntityMetadata",
            "SchemaName": schema_name(logical),
            "DisplayName": _label(display),
            "DisplayCollectionName": _label(display + "s"),
            "Description": _label(f"{display} (created by foi-sync)"),
            "OwnershipType": "UserOwned",
            "IsActivity": False,
            "HasActivities": True,
            "HasNotes": True,
            "ChangeTrackingEnabled": True,
            "EntitySetName": m.entity_set,
            "Attributes": [name_attr],
        }
        self.post("EntityDefinitions", body)
        self.done["tables"].append(logical)


def provision_schema(
    client: DataverseClient, mapping: TargetMapping, *, dry_run: bool = False, solution: str | None = None
) -> dict[str, list[str]]:
    """Create what is missing; -> {"tables", "columns", "relationships", "keys": [...], "manual": [what a person
    must do]}. With ``dry_run`` nothing is sent and the lists say what would be created."""
    result = _Provisioner(client, mapping, dry_run, solution).run()
    log.info(
        "provision %s",
        "planned" if dry_run else "done",
        extra={k: len(v) for k, v in result.items()},
    )
    return result
