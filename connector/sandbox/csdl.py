"""The CSDL `$metadata` document: entity types, complex types, the actions and functions the sandbox answers.

Learn "Web API service documents": the `$metadata` document "describes all the tables and operations that you can
use", in the `Microsoft.Dynamics.CRM` namespace aliased `mscrm`; `?annotations=true` (or
`Prefer: odata.include-annotations="*"`) adds annotations such as `Org.OData.Core.V1.Description`,
`Org.OData.Core.V1.Computed` and `Org.OData.Core.V1.Permissions` (Learn "Web API properties").
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from connector.sandbox.schema import Table

EDM = {
    "String": "Edm.String",
    "Memo": "Edm.String",
    "Integer": "Edm.Int32",
    "BigInt": "Edm.Int64",
    "Decimal": "Edm.Decimal",
    "Double": "Edm.Double",
    "Money": "Edm.Decimal",
    "Boolean": "Edm.Boolean",
    "DateTime": "Edm.DateTimeOffset",
    "Picklist": "Edm.Int32",
    "State": "Edm.Int32",
    "Status": "Edm.Int32",
    "Uniqueidentifier": "Edm.Guid",
    "EntityName": "Edm.String",
    "ManagedProperty": "mscrm.BooleanManagedProperty",
    "MultiSelectPicklist": "Edm.String",
    "File": "Edm.Guid",
    "Image": "Edm.Binary",
}

#: Complex types the operations below return: name -> [(property, type)]. Names and properties as the service's
#: own `$metadata` declares them (Learn reference pages "WhoAmIResponse ComplexType" etc.).
COMPLEX_TYPES: dict[str, list[tuple[str, str]]] = {
    "WhoAmIResponse": [("BusinessUnitId", "Edm.Guid"), ("UserId", "Edm.Guid"), ("OrganizationId", "Edm.Guid")],
    "CreateMultipleResponse": [("Ids", "Collection(Edm.Guid)")],
    "SendEmailResponse": [("Subject", "Edm.String")],
    "BulkDeleteResponse": [("JobId", "Edm.Guid")],
    "RetrieveTotalRecordCountResponse": [("EntityRecordCountCollection", "mscrm.EntityRecordCountCollection")],
    "EntityRecordCountCollection": [("Keys", "Collection(Edm.String)"), ("Values", "Collection(Edm.Int64)")],
    "RetrieveMetadataChangesResponse": [
        ("EntityMetadata", "Collection(mscrm.EntityMetadata)"),
        ("ServerVersionStamp", "Edm.String"),
        ("DeletedMetadata", "mscrm.DeletedMetadataCollection"),
    ],
    "DeletedMetadataCollection": [("Keys", "Collection(Edm.String)")],
    "Label": [("LocalizedLabels", "Collection(mscrm.LocalizedLabel)"), ("UserLocalizedLabel", "mscrm.LocalizedLabel")],
    "QueryExpression": [("EntityName", "Edm.String"), ("Criteria", "mscrm.FilterExpression")],
    "FilterExpression": [("FilterOperator", "Edm.String"), ("Conditions", "Collection(mscrm.ConditionExpression)")],
    "ConditionExpression": [("AttributeName", "Edm.String"), ("Operator", "Edm.String")],
    "EntityQueryExpression": [("Criteria", "mscrm.MetadataFilterExpression")],
    "MetadataFilterExpression": [("FilterOperator", "Edm.String")],
    "LocalizedLabel": [("Label", "Edm.String"), ("LanguageCode", "Edm.Int32")],
    "InsertOptionValueResponse": [("NewOptionValue", "Edm.Int32")],
    "BooleanManagedProperty": [
        ("Value", "Edm.Boolean"),
        ("CanBeChanged", "Edm.Boolean"),
        ("ManagedPropertyLogicalName", "Edm.String"),
    ],
    "RetrievePrincipalAccessResponse": [("AccessRights", "Edm.String")],
    "RetrieveVersionResponse": [("Version", "Edm.String")],
    "InitializeFileBlocksUploadResponse": [("FileContinuationToken", "Edm.String")],
    "CommitFileBlocksUploadResponse": [("FileId", "Edm.Guid"), ("FileSizeInBytes", "Edm.Int64")],
    "InitializeFileBlocksDownloadResponse": [
        ("FileContinuationToken", "Edm.String"),
        ("FileSizeInBytes", "Edm.Int64"),
        ("FileName", "Edm.String"),
        ("IsChunkingSupported", "Edm.Boolean"),
    ],
    "DownloadBlockResponse": [("Data", "Edm.Binary")],
}


@dataclass(frozen=True)
class Operation:
    """One action or function: bound operations take the binding parameter first."""

    name: str
    kind: str  # "Action" | "Function"
    parameters: tuple[tuple[str, str], ...] = ()
    returns: str | None = None
    bound_to: str | None = None  # e.g. "Collection(mscrm.crmbaseentity)" or "mscrm.email"


OPERATIONS: tuple[Operation, ...] = (
    Operation("WhoAmI", "Function", returns="mscrm.WhoAmIResponse"),
    Operation(
        "RetrieveTotalRecordCount",
        "Function",
        (("EntityNames", "Collection(Edm.String)"),),
        "mscrm.RetrieveTotalRecordCountResponse",
    ),
    Operation(
        "RetrieveMetadataChanges",
        "Function",
        (("Query", "mscrm.EntityQueryExpression"), ("ClientVersionStamp", "Edm.String")),
        "mscrm.RetrieveMetadataChangesResponse",
    ),
    Operation(
        "CreateMultiple",
        "Action",
        (("Targets", "Collection(mscrm.crmbaseentity)"),),
        "mscrm.CreateMultipleResponse",
        "Collection(mscrm.crmbaseentity)",
    ),
    Operation(
        "UpdateMultiple",
        "Action",
        (("Targets", "Collection(mscrm.crmbaseentity)"),),
        None,
        "Collection(mscrm.crmbaseentity)",
    ),
    Operation(
        "UpsertMultiple",
        "Action",
        (("Targets", "Collection(mscrm.crmbaseentity)"),),
        None,
        "Collection(mscrm.crmbaseentity)",
    ),
    Operation("CloseIncident", "Action", (("IncidentResolution", "mscrm.incidentresolution"), ("Status", "Edm.Int32"))),
    Operation("SendEmail", "Action", (("IssueSend", "Edm.Boolean"),), "mscrm.SendEmailResponse", "mscrm.email"),
    Operation(
        "InsertOptionValue",
        "Action",
        (
            ("OptionSetName", "Edm.String"),
            ("EntityLogicalName", "Edm.String"),
            ("AttributeLogicalName", "Edm.String"),
            ("Value", "Edm.Int32"),
            ("Label", "mscrm.Label"),
        ),
        "mscrm.InsertOptionValueResponse",
    ),
    Operation(
        "UpdateOptionValue",
        "Action",
        (("OptionSetName", "Edm.String"), ("Value", "Edm.Int32"), ("Label", "mscrm.Label")),
    ),
    Operation("DeleteOptionValue", "Action", (("OptionSetName", "Edm.String"), ("Value", "Edm.Int32"))),
    Operation("OrderOption", "Action", (("OptionSetName", "Edm.String"), ("Values", "Collection(Edm.Int32)"))),
    Operation("PublishDuplicateRule", "Action", (), "mscrm.asyncoperation", "mscrm.duplicaterule"),
    Operation("UnpublishDuplicateRule", "Action", (("DuplicateRuleId", "Edm.Guid"),)),
    Operation(
        "RetrievePrincipalAccess",
        "Function",
        (("Target", "mscrm.crmbaseentity"),),
        "mscrm.RetrievePrincipalAccessResponse",
        "mscrm.systemuser",
    ),
    Operation("RetrieveVersion", "Function", (), "mscrm.RetrieveVersionResponse"),
    Operation(
        "QualifyLead",
        "Action",
        (
            ("CreateAccount", "Edm.Boolean"),
            ("CreateContact", "Edm.Boolean"),
            ("CreateOpportunity", "Edm.Boolean"),
            ("Status", "Edm.Int32"),
        ),
        "Collection(mscrm.crmbaseentity)",
        "mscrm.lead",
    ),
    Operation(
        "Merge",
        "Action",
        (
            ("Target", "mscrm.crmbaseentity"),
            ("Subordinate", "mscrm.crmbaseentity"),
            ("UpdateContent", "mscrm.crmbaseentity"),
            ("PerformParentingChecks", "Edm.Boolean"),
        ),
    ),
    Operation("WinOpportunity", "Action", (("OpportunityClose", "mscrm.crmbaseentity"), ("Status", "Edm.Int32"))),
    Operation("LoseOpportunity", "Action", (("OpportunityClose", "mscrm.crmbaseentity"), ("Status", "Edm.Int32"))),
    Operation(
        "InitializeFileBlocksUpload",
        "Action",
        (("Target", "mscrm.crmbaseentity"), ("FileAttributeName", "Edm.String"), ("FileName", "Edm.String")),
        "mscrm.InitializeFileBlocksUploadResponse",
    ),
    Operation(
        "UploadBlock",
        "Action",
        (("BlockId", "Edm.String"), ("BlockData", "Edm.Binary"), ("FileContinuationToken", "Edm.String")),
    ),
    Operation(
        "CommitFileBlocksUpload",
        "Action",
        (
            ("FileName", "Edm.String"),
            ("MimeType", "Edm.String"),
            ("BlockList", "Collection(Edm.String)"),
            ("FileContinuationToken", "Edm.String"),
        ),
        "mscrm.CommitFileBlocksUploadResponse",
    ),
    Operation(
        "InitializeFileBlocksDownload",
        "Action",
        (("Target", "mscrm.crmbaseentity"), ("FileAttributeName", "Edm.String")),
        "mscrm.InitializeFileBlocksDownloadResponse",
    ),
    Operation(
        "DownloadBlock",
        "Action",
        (("Offset", "Edm.Int64"), ("BlockLength", "Edm.Int64"), ("FileContinuationToken", "Edm.String")),
        "mscrm.DownloadBlockResponse",
    ),
    Operation("DeleteFile", "Action", (("FileId", "Edm.Guid"),)),
    Operation(
        "BulkDelete",
        "Action",
        (
            ("QuerySet", "Collection(mscrm.QueryExpression)"),
            ("JobName", "Edm.String"),
            ("SendEmailNotification", "Edm.Boolean"),
            ("RecurrencePattern", "Edm.String"),
            ("StartDateTime", "Edm.DateTimeOffset"),
        ),
        "mscrm.BulkDeleteResponse",
    ),
)

CORE = "Org.OData.Core.V1"


def render(
    tables: dict[str, Table],
    annotations: bool = False,
    extra_operations: tuple[Operation, ...] = (),
    extra_types: dict[str, list[tuple[str, str]]] | None = None,
) -> str:
    """The whole document; ``annotations`` adds the per-property Core annotations (`?annotations=true`);
    ``extra_operations``/``extra_types`` are the custom APIs defined as rows and their response types."""
    operations = OPERATIONS + extra_operations
    complex_types = {**COMPLEX_TYPES, **(extra_types or {})}
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        '<edmx:Reference Uri="http://vocabularies.odata.org/OData.Community.Keys.V1.xml">'
        '<edmx:Include Namespace="OData.Community.Keys.V1" Alias="Keys"/></edmx:Reference>',
        '<edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml">'
        f'<edmx:Include Namespace="{CORE}" Alias="Core"/></edmx:Reference>',
        '<edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml">'
        '<edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/></edmx:Reference>',
        "<edmx:DataServices>",
        '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
        '<EntityType Name="crmbaseentity" Abstract="true"/>',
        # The metadata entity set (Learn "Query table definitions using the Web API": EntityDefinitions).
        '<EntityType Name="EntityMetadata"><Key><PropertyRef Name="MetadataId"/></Key>'
        '<Property Name="MetadataId" Type="Edm.Guid" Nullable="false"/><Property Name="LogicalName" Type="Edm.String"/>'
        '<Property Name="SchemaName" Type="Edm.String"/><Property Name="EntitySetName" Type="Edm.String"/>'
        '<Property Name="DisplayName" Type="mscrm.Label"/></EntityType>',
    ]
    for t in tables.values():
        out.append(f'<EntityType Name="{t.logical}" BaseType="mscrm.crmbaseentity">')
        out.append(f'<Key><PropertyRef Name="{t.primary_id}"/></Key>')
        for a in t.attributes.values():
            if a.type == "PartyList":
                continue
            name = f"_{a.logical}_value" if a.type in ("Lookup", "Customer", "Owner") else a.logical
            typ = EDM.get(a.type, "Edm.Guid")
            if not annotations:
                out.append(f'<Property Name="{name}" Type="{typ}"/>')
                continue
            out.append(f'<Property Name="{name}" Type="{typ}">')
            if a.display:
                out.append(f'<Annotation Term="{CORE}.Description" String={quoteattr(a.display)}/>')
            if a.read_only:
                out.append(f'<Annotation Term="{CORE}.Computed" Bool="true"/>')
                out.append(
                    f'<Annotation Term="{CORE}.Permissions"><EnumMember>{CORE}.Permission/Read</EnumMember></Annotation>'
                )
            out.append("</Property>")
        for n in t.navs.values():
            typ = f"mscrm.{n.target}" if n.kind == "single" else f"Collection(mscrm.{n.target})"
            out.append(f'<NavigationProperty Name="{n.name}" Type="{typ}"/>')
        out.append("</EntityType>")
    for name, props in complex_types.items():
        out.append(f'<ComplexType Name="{name}">')
        out += [f'<Property Name="{p}" Type="{typ}"/>' for p, typ in props]
        out.append("</ComplexType>")
    for op in operations:
        bound = op.bound_to is not None
        out.append(f'<{op.kind} Name="{op.name}" IsBound="{"true" if bound else "false"}">')
        if bound:
            out.append(f'<Parameter Name="entityset" Type="{op.bound_to}" Nullable="false"/>')
        out += [f'<Parameter Name="{p}" Type="{typ}"/>' for p, typ in op.parameters]
        if op.returns:
            out.append(f'<ReturnType Type="{op.returns}" Nullable="false"/>')
        out.append(f"</{op.kind}>")
    out.append('<EntityContainer Name="System">')
    out.append('<EntitySet Name="EntityDefinitions" EntityType="Microsoft.Dynamics.CRM.EntityMetadata"/>')
    for t in tables.values():
        out.append(f'<EntitySet Name="{t.entity_set}" EntityType="Microsoft.Dynamics.CRM.{t.logical}">')
        # Capability annotation (OData Capabilities vocabulary): every sandbox table is change-tracking enabled
        # (EntityMetadata.ChangeTrackingEnabled), so `Prefer: odata.track-changes` works on each entity set.
        out.append(
            '<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record>'
            '<PropertyValue Property="Supported" Bool="true"/></Record></Annotation>'
        )
        out.append("</EntitySet>")
    for op in operations:
        if op.bound_to is None:
            tag = "FunctionImport" if op.kind == "Function" else "ActionImport"
            attr = "Function" if op.kind == "Function" else "Action"
            out.append(f'<{tag} Name="{op.name}" {attr}="Microsoft.Dynamics.CRM.{op.name}"/>')
    out.append("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")
    return "\n".join(out)
