"""Table metadata for the sandbox: the shapes Microsoft documents for the standard tables, plus custom ones.

Everything the server validates (types, max lengths, required levels, choices, alternate keys, navigation
properties) is read from these objects, so a table created through the metadata API behaves like a seeded one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

#: Attribute types as Dataverse names them in AttributeMetadata.AttributeType.
STRING, MEMO, INTEGER, BIGINT, DECIMAL, DOUBLE, MONEY = (
    "String",
    "Memo",
    "Integer",
    "BigInt",
    "Decimal",
    "Double",
    "Money",
)
BOOLEAN, DATETIME, PICKLIST, STATE, STATUS = "Boolean", "DateTime", "Picklist", "State", "Status"
LOOKUP, CUSTOMER, OWNER, UNIQUEID, PARTYLIST, VIRTUAL = (
    "Lookup",
    "Customer",
    "Owner",
    "Uniqueidentifier",
    "PartyList",
    "Virtual",
)
ENTITYNAME = "EntityName"
MULTISELECT = "MultiSelectPicklist"  # stored and sent as "1,9,5" (Learn "Multi-select choice columns")
MANAGED = "ManagedProperty"  # a BooleanManagedProperty column such as iscustomizable ({"Value": bool, ...})
FILE, IMAGE = "File", "Image"  # AttributeType Virtual, AttributeTypeName FileType / ImageType in Dataverse

LOOKUP_TYPES = {LOOKUP, CUSTOMER, OWNER}
CHOICE_TYPES = {PICKLIST, STATE, STATUS}

_METADATA_TYPE = {
    STRING: "StringAttributeMetadata",
    MEMO: "MemoAttributeMetadata",
    INTEGER: "IntegerAttributeMetadata",
    BIGINT: "BigIntAttributeMetadata",
    DECIMAL: "DecimalAttributeMetadata",
    DOUBLE: "DoubleAttributeMetadata",
    MONEY: "MoneyAttributeMetadata",
    BOOLEAN: "BooleanAttributeMetadata",
    DATETIME: "DateTimeAttributeMetadata",
    PICKLIST: "PicklistAttributeMetadata",
    STATE: "StateAttributeMetadata",
    STATUS: "StatusAttributeMetadata",
    LOOKUP: "LookupAttributeMetadata",
    CUSTOMER: "LookupAttributeMetadata",
    OWNER: "LookupAttributeMetadata",
    UNIQUEID: "AttributeMetadata",
    PARTYLIST: "LookupAttributeMetadata",
    VIRTUAL: "AttributeMetadata",
    ENTITYNAME: "EntityNameAttributeMetadata",
    FILE: "FileAttributeMetadata",
    IMAGE: "ImageAttributeMetadata",
    MANAGED: "ManagedPropertyAttributeMetadata",
    MULTISELECT: "MultiSelectPicklistAttributeMetadata",
}
TYPE_FROM_METADATA = {
    v: k for k, v in _METADATA_TYPE.items() if k not in (CUSTOMER, OWNER, PARTYLIST, UNIQUEID, VIRTUAL)
}


# SchemaNames as the table/column reference pages on Learn spell them ("account table/entity reference": Account,
# AccountNumber, EMailAddress1 ...). A custom table or column keeps the SchemaName it was created with.
TABLE_SCHEMA_NAMES = {
    "account": "Account",
    "contact": "Contact",
    "incident": "Incident",
    "incidentresolution": "IncidentResolution",
    "task": "Task",
    "email": "Email",
    "phonecall": "PhoneCall",
    "activityparty": "ActivityParty",
    "activitypointer": "ActivityPointer",
    "annotation": "Annotation",
    "systemuser": "SystemUser",
    "team": "Team",
    "queue": "Queue",
    "workflow": "Workflow",
    "processstage": "ProcessStage",
    "lead": "Lead",
    "opportunity": "Opportunity",
    "transactioncurrency": "TransactionCurrency",
    "duplicaterule": "DuplicateRule",
    "duplicaterulecondition": "DuplicateRuleCondition",
    "bulkdeleteoperation": "BulkDeleteOperation",
    "asyncoperation": "AsyncOperation",
}
_WORDS = sorted(
    """account accounts activity address address1 address2 actual active applied application base birth body
    business by case category cc city code company completed composite contact contacts control country created
    credit currency customer date description direction disabled document domain donot duplicate email emails
    employees end entity escalated estimated exchange external fax file first flow follow from full hold id identifier
    import incident industry internal is job last latitude line1 line2 longitude mask message method mime modified
    name note number object of on opportunity origin overridden owner parent participation party path percent
    postal postalcode preferred primary priority process queue rate received regarding resolve response revenue
    scheduled sender sequence severity stage started state status subject symbol system team telephone1 telephone2
    text ticket time title to topic traversed type unique url user value version view web website workflow instance
    transaction up close probability phone call lead source quality rating budget amount purchase timeframe decision
    maker fax base rule condition operation async matching precision iso exchange mobile middle annual income
    province county ticker credit limit ignore blank values matching actual duration minutes rating
    probability estimated originating close""".split(),  # noqa: SIM905
    key=len,
    reverse=True,
)
_SPECIAL = {
    "emailaddress1": "EMailAddress1",
    "emailaddress2": "EMailAddress2",
    "emailaddress": "EMailAddress",
    "donotemail": "DoNotEMail",
    "fax": "Fax",
    "websiteurl": "WebSiteURL",
    "address1_postalcode": "Address1_PostalCode",
    "address1_composite": "Address1_Composite",
    "numberofemployees": "NumberOfEmployees",
    "isocurrencycode": "ISOCurrencyCode",
    "objectid": "ObjectId",
    "from": "from",
    "to": "to",
    "cc": "cc",
}


def documented_schema_name(logical: str) -> str:
    """accountnumber -> AccountNumber, address1_city -> Address1_City: the casing Learn's column references use."""
    if logical in _SPECIAL:
        return _SPECIAL[logical]
    out = []
    for part in logical.split("_"):
        rest, words = part, []
        while rest:
            word = next((w for w in _WORDS if rest.startswith(w)), None)
            if word is None:
                words.append(rest)
                break
            words.append(word)
            rest = rest[len(word) :]
        out.append("".join(w[:1].upper() + w[1:] for w in words))
    return "_".join(out)


def _mid(*parts: str) -> str:
    """Stable MetadataIds, so a restarted sandbox answers with the same ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "foi-sync-sandbox/" + "/".join(parts)))


def label(text: str) -> dict[str, Any]:
    loc = {"Label": text, "LanguageCode": 1033, "IsManaged": False}
    return {"LocalizedLabels": [loc], "UserLocalizedLabel": loc}


@dataclass
class Attribute:
    logical: str
    type: str
    max_length: int | None = None
    required: str = "None"  # None | ApplicationRequired | SystemRequired | Recommended
    options: dict[int, str] | None = None
    #: For Status columns: option value -> the statecode it belongs to.
    status_state: dict[int, int] | None = None
    targets: list[str] = field(default_factory=list)
    schema: str | None = None
    display: str | None = None
    date_only: bool = False
    min_value: float | None = None
    max_value: float | None = None
    read_only: bool = False
    custom: bool = False
    relationship: str | None = None  # a custom lookup's 1:N relationship SchemaName
    referenced_nav: str | None = None  # ... and its collection-valued navigation property on the referenced table
    global_option_set: str | None = None  # a choice column's global option set (GlobalOptionSetDefinitions Name)

    @property
    def schema_name(self) -> str:
        return self.schema or documented_schema_name(self.logical)

    def to_metadata(self, table: str) -> dict[str, Any]:
        md: dict[str, Any] = {
            "@odata.type": "#Microsoft.Dynamics.CRM." + _METADATA_TYPE[self.type],
            "MetadataId": _mid(table, self.logical),
            "LogicalName": self.logical,
            "SchemaName": self.schema_name,
            "EntityLogicalName": table,
            # Learn "Use file column data" / "Use image column data": file and image columns are Virtual
            # attributes whose AttributeTypeName is FileType / ImageType.
            "AttributeType": "Virtual" if self.type in (FILE, IMAGE) else self.type,
            "AttributeTypeName": {"Value": self.type + "Type"},
            "DisplayName": label(self.display or self.logical),
            "RequiredLevel": {
                "Value": self.required,
                "CanBeChanged": self.required != "SystemRequired",
                "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
            },
            "IsCustomAttribute": self.custom,
            "IsValidForCreate": not self.read_only,
            "IsValidForUpdate": not self.read_only,
            "IsValidForRead": True,
            "IsPrimaryId": False,
            "IsPrimaryName": False,
        }
        if self.type in (STRING, MEMO):
            md["MaxLength"] = self.max_length
            md["Format"] = "Text" if self.type == STRING else "TextArea"
        if self.type in LOOKUP_TYPES or self.type == PARTYLIST:
            md["Targets"] = list(self.targets)
        if self.type == DATETIME:
            md["Format"] = "DateOnly" if self.date_only else "DateAndTime"
            md["DateTimeBehavior"] = {"Value": "DateOnly" if self.date_only else "UserLocal"}
        if self.type in (INTEGER, DECIMAL, DOUBLE, MONEY, BIGINT):
            md["MinValue"] = self.min_value
            md["MaxValue"] = self.max_value
        return md

    def option_set(self, table: str) -> dict[str, Any]:
        opts = []
        for value, text in (self.options or {}).items():
            opt: dict[str, Any] = {"Value": value, "Label": label(text), "Description": label("")}
            if self.type == STATUS and self.status_state:
                opt["State"] = self.status_state.get(value)
                opt["@odata.type"] = "#Microsoft.Dynamics.CRM.StatusOptionMetadata"
            opts.append(opt)
        return {
            "MetadataId": _mid(table, self.logical, "optionset"),
            "Name": self.global_option_set or f"{table}_{self.logical}",
            "IsGlobal": self.global_option_set is not None,
            "OptionSetType": {PICKLIST: "Picklist", STATE: "State", STATUS: "Status"}.get(self.type, "Picklist"),
            "Options": opts,
        }


@dataclass
class Key:
    schema: str
    attributes: list[str]
    status: str = "Active"

    def to_metadata(self, table: str) -> dict[str, Any]:
        return {
            "MetadataId": _mid(table, "key", self.schema),
            "LogicalName": self.schema.lower(),
            "SchemaName": self.schema,
            "KeyAttributes": list(self.attributes),
            "EntityKeyIndexStatus": self.status,
            "EntityLogicalName": table,
            "DisplayName": label(self.schema),
        }


@dataclass
class NavProperty:
    """One navigation property. single: a lookup on this table; collection: lookups on another table to this one."""

    name: str
    kind: str  # "single" | "collection"
    attribute: str  # single: the lookup column on this table; collection: the lookup column on `target`
    target: str  # the table on the other side
    relationship: str


@dataclass
class Table:
    logical: str
    entity_set: str
    primary_id: str
    primary_name: str
    attributes: dict[str, Attribute]
    keys: list[Key] = field(default_factory=list)
    is_activity: bool = False
    custom: bool = False
    object_type_code: int = 10000
    display: str | None = None
    ownership: str = "UserOwned"
    navs: dict[str, NavProperty] = field(default_factory=dict)
    schema: str | None = None  # a custom table's SchemaName as created (e.g. foi_Case)
    description: str | None = None
    is_bpf: bool = False  # the instance table of a business process flow (EntityMetadata.IsBPFEntity)

    @property
    def metadata_id(self) -> str:
        return _mid(self.logical)

    @property
    def schema_name(self) -> str:
        return self.schema or TABLE_SCHEMA_NAMES.get(self.logical, self.logical)

    def to_metadata(self) -> dict[str, Any]:
        # No "@odata.type": EntityDefinitions holds EntityMetadata only, so the service sends no type annotation
        # (QMETA examples); attributes carry one because they are derived types.
        return {
            "MetadataId": self.metadata_id,
            "LogicalName": self.logical,
            "SchemaName": self.schema_name,
            "EntitySetName": self.entity_set,
            "LogicalCollectionName": self.entity_set,
            "CollectionSchemaName": self.schema_name + ("es" if self.schema_name.endswith("s") else "s"),
            "PrimaryIdAttribute": self.primary_id,
            "PrimaryNameAttribute": self.primary_name,
            "ObjectTypeCode": self.object_type_code,
            "IsActivity": self.is_activity,
            "IsCustomEntity": self.custom,
            "ChangeTrackingEnabled": True,
            "IsPrivate": False,
            "IsManaged": not self.custom,
            "IsCustomizable": {"Value": True, "CanBeChanged": False},
            "TableType": "Standard",
            "HasActivities": False,
            "HasNotes": self.logical in ("account", "contact", "incident", "lead", "opportunity") or self.custom,
            "IsOptimisticConcurrencyEnabled": True,
            "OwnershipType": self.ownership,
            "DisplayName": label(self.display or self.logical),
            "DisplayCollectionName": label(self.entity_set),
            "Description": label(self.description or ""),
            "CanCreateAttributes": {"Value": True, "CanBeChanged": False},
            "IsBPFEntity": self.is_bpf,
        }


# --------------------------------------------------------------------------------------------------- seed data

STATE_ACTIVE = {0: "Active", 1: "Inactive"}
_ACTIVITY_STATE = {0: "Open", 1: "Completed", 2: "Canceled"}  # task, email (3 Scheduled is appointment-only)


def _common(table: str, owner: bool = True) -> dict[str, Attribute]:
    cols = {
        "createdon": Attribute("createdon", DATETIME, read_only=True),
        "modifiedon": Attribute("modifiedon", DATETIME, read_only=True),
        "versionnumber": Attribute("versionnumber", BIGINT, read_only=True),
        "overriddencreatedon": Attribute("overriddencreatedon", DATETIME),
        "importsequencenumber": Attribute("importsequencenumber", INTEGER),
        # Who created and last changed the row (the caller, or the user named by MSCRMCallerID).
        "createdby": Attribute(
            "createdby", LOOKUP, targets=["systemuser"], read_only=True, relationship=f"lk_{table}_createdby"
        ),
        "modifiedby": Attribute(
            "modifiedby", LOOKUP, targets=["systemuser"], read_only=True, relationship=f"lk_{table}_modifiedby"
        ),
    }
    if owner:
        cols["ownerid"] = Attribute("ownerid", OWNER, targets=["systemuser", "team"], required="SystemRequired")
    return cols


def _t(
    logical: str,
    entity_set: str,
    primary_name: str,
    attrs: list[Attribute],
    *,
    keys: list[Key] | None = None,
    is_activity: bool = False,
    otc: int,
    owner: bool = True,
    primary_id: str | None = None,
) -> Table:
    pid = primary_id or logical + "id"
    cols = {pid: Attribute(pid, UNIQUEID)}
    cols.update(_common(logical, owner))
    for a in attrs:
        cols[a.logical] = a
    return Table(logical, entity_set, pid, primary_name, cols, keys or [], is_activity, object_type_code=otc)


def _activity(
    logical: str, entity_set: str, otc: int, extra: list[Attribute], status: dict[int, tuple[str, int]]
) -> Table:
    regarding_targets = ["account", "contact", "incident", "lead", "opportunity"]
    attrs = [
        Attribute("subject", STRING, 400 if logical == "email" else 200),
        Attribute("description", MEMO, 100000 if logical != "email" else 1048576),
        Attribute("regardingobjectid", LOOKUP, targets=regarding_targets),
        Attribute("scheduledend", DATETIME),
        Attribute("actualend", DATETIME),
        Attribute("prioritycode", PICKLIST, options={0: "Low", 1: "Normal", 2: "High"}),
        Attribute("activitytypecode", ENTITYNAME, read_only=True),
        Attribute("statecode", STATE, options=_ACTIVITY_STATE),
        Attribute(
            "statuscode",
            STATUS,
            options={k: v[0] for k, v in status.items()},
            status_state={k: v[1] for k, v in status.items()},
        ),
        *extra,
    ]
    table = _t(logical, entity_set, "subject", attrs, is_activity=True, otc=otc, primary_id="activityid")
    return table


def seed_tables() -> dict[str, Table]:
    """The standard tables the connector uses, with the columns Microsoft documents for them."""
    from connector.sandbox.customapi import tables as custom_api_tables
    from connector.sandbox.standard import add_money_companions, standard_tables

    account = _t(
        "account",
        "accounts",
        "name",
        [
            Attribute("name", STRING, 160, required="ApplicationRequired"),
            Attribute("accountnumber", STRING, 20),
            Attribute("emailaddress1", STRING, 100),
            Attribute("emailaddress2", STRING, 100),
            Attribute("emailaddress3", STRING, 100),
            Attribute("telephone1", STRING, 50),
            Attribute("telephone2", STRING, 50),
            Attribute("telephone3", STRING, 50),
            Attribute("fax", STRING, 50),
            Attribute("tickersymbol", STRING, 10),
            Attribute("address1_line1", STRING, 250),
            Attribute("address1_line2", STRING, 250),
            Attribute("address1_city", STRING, 80),
            Attribute("address1_county", STRING, 50),
            Attribute("address1_stateorprovince", STRING, 50),
            Attribute("address1_postalcode", STRING, 20),
            Attribute("address1_country", STRING, 80),
            Attribute("address1_latitude", DOUBLE, min_value=-90, max_value=90),
            Attribute("address1_longitude", DOUBLE, min_value=-180, max_value=180),
            Attribute("websiteurl", STRING, 200),
            Attribute("creditonhold", BOOLEAN),
            Attribute("description", MEMO, 2000),
            Attribute("numberofemployees", INTEGER, min_value=0, max_value=1000000000),
            Attribute("revenue", MONEY, min_value=0, max_value=100000000000000),
            Attribute("creditlimit", MONEY, min_value=0, max_value=100000000000000),
            Attribute("donotphone", BOOLEAN),
            Attribute("donotemail", BOOLEAN),
            Attribute("primarycontactid", LOOKUP, targets=["contact"]),
            Attribute("originatingleadid", LOOKUP, targets=["lead"]),
            Attribute("parentaccountid", LOOKUP, targets=["account"]),
            Attribute("accountcategorycode", PICKLIST, options={1: "Preferred Customer", 2: "Standard"}),
            Attribute("industrycode", PICKLIST, options={1: "Accounting", 2: "Agriculture", 33: "Government"}),
            Attribute("statecode", STATE, options=STATE_ACTIVE),
            Attribute("statuscode", STATUS, options={1: "Active", 2: "Inactive"}, status_state={1: 0, 2: 1}),
        ],
        keys=[Key("accountnumber_key", ["accountnumber"])],
        otc=1,
    )
    contact = _t(
        "contact",
        "contacts",
        "fullname",
        [
            Attribute("firstname", STRING, 50),
            Attribute("middlename", STRING, 50),
            Attribute("lastname", STRING, 50, required="ApplicationRequired"),
            Attribute("fullname", STRING, 160, read_only=True),
            Attribute("salutation", STRING, 100),
            Attribute("emailaddress1", STRING, 100),
            Attribute("emailaddress2", STRING, 100),
            Attribute("emailaddress3", STRING, 100),
            Attribute("telephone1", STRING, 50),
            Attribute("telephone2", STRING, 50),
            Attribute("mobilephone", STRING, 50),
            Attribute("fax", STRING, 50),
            Attribute("jobtitle", STRING, 100),
            Attribute("gendercode", PICKLIST, options={1: "Male", 2: "Female"}),
            Attribute("familystatuscode", PICKLIST, options={1: "Single", 2: "Married", 3: "Divorced", 4: "Widowed"}),
            Attribute("annualincome", MONEY, min_value=0, max_value=100000000000000),
            Attribute("donotphone", BOOLEAN),
            Attribute("originatingleadid", LOOKUP, targets=["lead"]),
            Attribute("address1_line1", STRING, 250),
            Attribute("address1_line2", STRING, 250),
            Attribute("address1_city", STRING, 80),
            Attribute("address1_composite", MEMO, 1000, read_only=True),
            Attribute("address1_county", STRING, 50),
            Attribute("address1_stateorprovince", STRING, 50),
            Attribute("address1_postalcode", STRING, 20),
            Attribute("address1_country", STRING, 80),
            Attribute("description", MEMO, 2000),
            Attribute("externaluseridentifier", STRING, 50),
            Attribute("parentcustomerid", CUSTOMER, targets=["account", "contact"]),
            Attribute("birthdate", DATETIME, date_only=True),
            Attribute("donotemail", BOOLEAN),
            Attribute(
                "preferredcontactmethodcode", PICKLIST, options={1: "Any", 2: "Email", 3: "Phone", 4: "Fax", 5: "Mail"}
            ),
            Attribute("statecode", STATE, options=STATE_ACTIVE),
            Attribute("statuscode", STATUS, options={1: "Active", 2: "Inactive"}, status_state={1: 0, 2: 1}),
        ],
        # No seeded key: Dataverse has no out-of-the-box alternate key on contact, and requesters may share an
        # address; define one through the metadata API if a mapping needs it (accountnumber on account is kept
        # because Microsoft's alternate-key examples all use it).
        otc=2,
    )
    incident = _t(
        "incident",
        "incidents",
        "title",
        [
            Attribute("title", STRING, 200, required="ApplicationRequired"),
            Attribute("ticketnumber", STRING, 100),
            Attribute("description", MEMO, 2000),
            Attribute("customerid", CUSTOMER, targets=["account", "contact"], required="SystemRequired"),
            Attribute("primarycontactid", LOOKUP, targets=["contact"]),
            Attribute("parentcaseid", LOOKUP, targets=["incident"]),
            Attribute(
                "caseorigincode",
                PICKLIST,
                options={1: "Phone", 2: "Email", 3: "Web", 2483: "Facebook", 3986: "Twitter", 700610000: "IoT"},
            ),
            Attribute("casetypecode", PICKLIST, options={1: "Question", 2: "Problem", 3: "Request"}),
            Attribute("prioritycode", PICKLIST, options={1: "High", 2: "Normal", 3: "Low"}),
            Attribute("severitycode", PICKLIST, options={1: "Default Value"}),
            Attribute("followupby", DATETIME),
            Attribute("resolveby", DATETIME),
            Attribute("responseby", DATETIME),
            Attribute("escalatedon", DATETIME),
            Attribute("isescalated", BOOLEAN),
            Attribute("statecode", STATE, options={0: "Active", 1: "Resolved", 2: "Canceled"}),
            Attribute(
                "statuscode",
                STATUS,
                options={
                    1: "In Progress",
                    2: "On Hold",
                    3: "Waiting for Details",
                    4: "Researching",
                    5: "Problem Solved",
                    1000: "Information Provided",
                    6: "Cancelled",
                    2000: "Merged",
                },
                status_state={1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 1000: 1, 6: 2, 2000: 2},
            ),
        ],
        keys=[Key("incident_ticketnumber_key", ["ticketnumber"])],
        otc=112,
    )
    task = _activity(
        "task",
        "tasks",
        4212,
        [Attribute("percentcomplete", INTEGER, min_value=0, max_value=100), Attribute("category", STRING, 250)],
        {
            2: ("Not Started", 0),
            3: ("In Progress", 0),
            4: ("Waiting on someone else", 0),
            7: ("Deferred", 0),
            5: ("Completed", 1),
            6: ("Canceled", 2),
        },
    )
    email = _activity(
        "email",
        "emails",
        4202,
        [
            Attribute("directioncode", BOOLEAN),
            Attribute("sender", STRING, 250),
            Attribute("torecipients", STRING, 500),
            Attribute("messageid", STRING, 320),
            Attribute("from", PARTYLIST, targets=["systemuser", "queue", "contact", "account"]),
            Attribute("to", PARTYLIST, targets=["contact", "account", "systemuser", "queue"]),
            Attribute("cc", PARTYLIST, targets=["contact", "account", "systemuser", "queue"]),
        ],
        {
            1: ("Draft", 0),
            8: ("Failed", 0),
            2: ("Completed", 1),
            3: ("Sent", 1),
            4: ("Received", 1),
            6: ("Pending Send", 1),
            7: ("Sending", 1),
            5: ("Canceled", 2),
        },
    )
    activityparty = _t(
        "activityparty",
        "activityparties",
        "addressused",
        [
            Attribute("activityid", LOOKUP, targets=["email", "task"]),
            Attribute("partyid", LOOKUP, targets=["contact", "account", "systemuser", "queue"]),
            Attribute(
                "participationtypemask",
                PICKLIST,
                options={
                    1: "Sender",
                    2: "To Recipient",
                    3: "CC Recipient",
                    4: "BCC Recipient",
                    5: "Required attendee",
                    6: "Optional attendee",
                    7: "Organizer",
                    8: "Regarding",
                    9: "Owner",
                    10: "Resource",
                    11: "Customer",
                },
            ),
            Attribute("addressused", STRING, 320),
        ],
        otc=135,
        owner=False,
    )
    annotation = _t(
        "annotation",
        "annotations",
        "subject",
        [
            Attribute("subject", STRING, 500),
            Attribute("notetext", MEMO, 100000),
            Attribute("filename", STRING, 255),
            Attribute("mimetype", STRING, 256),
            Attribute("documentbody", MEMO, 1073741823),
            Attribute("isdocument", BOOLEAN),
            Attribute("objectid", LOOKUP, targets=["account", "contact", "incident", "email", "task"]),
            Attribute("objecttypecode", ENTITYNAME),
        ],
        otc=5,
    )
    systemuser = _t(
        "systemuser",
        "systemusers",
        "fullname",
        [
            Attribute("fullname", STRING, 200, read_only=True),
            Attribute("firstname", STRING, 64),
            Attribute("lastname", STRING, 64),
            Attribute("domainname", STRING, 1024, required="SystemRequired"),
            Attribute("internalemailaddress", STRING, 100),
            Attribute("applicationid", UNIQUEID),
            Attribute("azureactivedirectoryobjectid", UNIQUEID),
            Attribute("isdisabled", BOOLEAN),
        ],
        otc=8,
        owner=False,
    )
    team = _t(
        "team",
        "teams",
        "name",
        [
            Attribute("name", STRING, 160, required="SystemRequired"),
            Attribute("description", MEMO, 2000),
            Attribute("emailaddress", STRING, 100),
            Attribute("teamtype", PICKLIST, options={0: "Owner", 1: "Access", 2: "Security Group", 3: "Office Group"}),
        ],
        otc=9,
        owner=False,
    )
    queue = _t(
        "queue",
        "queues",
        "name",
        [
            Attribute("name", STRING, 400, required="SystemRequired"),
            Attribute("emailaddress", STRING, 100),
            Attribute("description", MEMO, 2000),
            Attribute("queueviewtype", PICKLIST, options={0: "Public", 1: "Private"}),
            Attribute("statecode", STATE, options=STATE_ACTIVE),
            Attribute("statuscode", STATUS, options={1: "Active", 2: "Inactive"}, status_state={1: 0, 2: 1}),
        ],
        otc=2020,
    )
    # Case resolution: the activity CloseIncident creates when a case is resolved (incidentresolution entity ref).
    incidentresolution = _t(
        "incidentresolution",
        "incidentresolutions",
        "subject",
        [
            Attribute("subject", STRING, 200),
            Attribute("description", MEMO, 2000),
            Attribute("incidentid", LOOKUP, targets=["incident"]),
            Attribute("timespent", INTEGER, min_value=0, max_value=2147483647),
            Attribute("activitytypecode", ENTITYNAME, read_only=True),
            Attribute("statecode", STATE, options=_ACTIVITY_STATE),
            Attribute(
                "statuscode", STATUS, options={1: "Open", 2: "Closed", 3: "Canceled"}, status_state={1: 0, 2: 1, 3: 2}
            ),
        ],
        is_activity=True,
        otc=4206,
        primary_id="activityid",
    )
    tables = {
        t.logical: t
        for t in (
            account,
            contact,
            incident,
            incidentresolution,
            task,
            email,
            activityparty,
            annotation,
            systemuser,
            team,
            queue,
            *process_tables(),
            *standard_tables(),
            *custom_api_tables(),
        )
    }
    for t in (account, contact):
        add_money_companions(t)
    for logical in ("account", "contact", "lead", "incident"):
        # Learn "Merge table rows": a merged-away row says so (merged) and names the row it went into (masterid).
        t = tables[logical]
        t.attributes["merged"] = Attribute("merged", BOOLEAN, read_only=True)
        t.attributes["masterid"] = Attribute(
            "masterid", LOOKUP, targets=[logical], read_only=True, relationship=f"{logical}_master_{logical}"
        )
    build_navigation(tables)
    return tables


# --------------------------------------------------------------------------------- business process flows
# Microsoft (business-process-flows-code): a BPF definition is a `workflow` row (category 4), its stages are
# `processstage` rows, and each activated flow has its own table whose rows are the flow instances (one per
# record), with `activestageid` and `traversedpath`. The sandbox seeds one FOI flow on the Case table.


@dataclass(frozen=True)
class ProcessFlow:
    """A seeded business process flow: its workflow id, table and stages in order (id, name, category)."""

    workflow_id: str
    name: str
    uniquename: str
    table: str
    entity_set: str
    case_lookup: str
    stages: tuple[tuple[str, str, int], ...]

    @property
    def stage_ids(self) -> list[str]:
        return [s[0] for s in self.stages]


def _stage_id(flow: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"foi-sync-sandbox/processstage/{flow}/{name}"))


#: The FOI request flow on incident: deterministic ids, so a mapping can name its stages.
FOI_FLOW = ProcessFlow(
    workflow_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "foi-sync-sandbox/workflow/foi_foirequestprocess")),
    name="FOI request process",
    uniquename="foi_foirequestprocess",
    table="foi_foirequestprocess",
    entity_set="foi_foirequestprocesses",
    case_lookup="bpf_incidentid",
    stages=tuple(
        (_stage_id("foi_foirequestprocess", name), name, category)
        for name, category in (("Received", 4), ("Acknowledged", 5), ("In progress", 5), ("Response sent", 6))
    ),
)
#: Flow tables by logical name (the records layer enforces next/previous-stage moves on these).
PROCESS_FLOWS = {FOI_FLOW.table: FOI_FLOW}

WORKFLOW_CATEGORY = {
    0: "Workflow",
    1: "Dialog",
    2: "Business Rule",
    3: "Action",
    4: "Business Process Flow",
    5: "Modern Flow",
    6: "Desktop Flow",
}
STAGE_CATEGORY = {
    0: "Qualify",
    1: "Develop",
    2: "Propose",
    3: "Close",
    4: "Identify",
    5: "Research",
    6: "Resolve",
    7: "Approval",
}


def process_tables() -> list[Table]:
    """workflow, processstage and the FOI flow's instance table (custom, like every BPF table)."""
    workflow = _t(
        "workflow",
        "workflows",
        "name",
        [
            Attribute("name", STRING, 100, required="SystemRequired"),
            Attribute("uniquename", STRING, 256),
            Attribute("category", PICKLIST, options=dict(WORKFLOW_CATEGORY), required="SystemRequired"),
            Attribute("primaryentity", STRING, 100),
            Attribute("type", PICKLIST, options={1: "Definition", 2: "Activation", 3: "Template"}),
            Attribute("businessprocesstype", PICKLIST, options={0: "Business Flow", 1: "Task Flow"}),
            Attribute("description", MEMO, 100000),
            Attribute("xaml", MEMO, 1073741823),
            Attribute("processorder", INTEGER, min_value=0, max_value=2147483647),
            Attribute("statecode", STATE, options={0: "Draft", 1: "Activated", 2: "Suspended"}),
            Attribute(
                "statuscode",
                STATUS,
                options={1: "Draft", 2: "Activated", 3: "CompanyDLPViolation"},
                status_state={1: 0, 2: 1, 3: 2},
            ),
        ],
        otc=4703,
        owner=False,
    )
    processstage = _t(
        "processstage",
        "processstages",
        "stagename",
        [
            Attribute("stagename", STRING, 100),
            Attribute("processid", LOOKUP, targets=["workflow"]),
            Attribute("stagecategory", PICKLIST, options=dict(STAGE_CATEGORY)),
            Attribute("primaryentitytypecode", STRING, 100),
        ],
        otc=4724,
        owner=False,
    )
    flow = flow_instance_table(
        FOI_FLOW.table,
        "incident",
        FOI_FLOW.name,
        10010,
        entity_set=FOI_FLOW.entity_set,
        case_lookup=FOI_FLOW.case_lookup,
    )
    return [workflow, processstage, flow]


def flow_instance_table(
    logical: str,
    primary_entity: str,
    display: str,
    otc: int,
    *,
    entity_set: str | None = None,
    case_lookup: str | None = None,
) -> Table:
    """The table Dataverse creates when a business process flow definition is activated (business-process-flows-
    code: named by the definition's uniquename; rows are the flow instances, bound to the primary entity's record
    through bpf_<entity>id, or ``case_lookup`` where the seeded flow names it)."""
    table = _t(
        logical,
        entity_set or logical + ("es" if logical.endswith("s") else "s"),
        "bpf_name",
        [
            Attribute("bpf_name", STRING, 200),
            Attribute(case_lookup or f"bpf_{primary_entity}id", LOOKUP, targets=[primary_entity], custom=True),
            Attribute("activestageid", LOOKUP, targets=["processstage"]),
            Attribute("processid", LOOKUP, targets=["workflow"]),
            Attribute("traversedpath", STRING, 1250),
            Attribute("activestagestartedon", DATETIME),
            Attribute("completedon", DATETIME),
            Attribute("statecode", STATE, options={0: "Active", 1: "Inactive"}),
            Attribute(
                "statuscode",
                STATUS,
                options={1: "Active", 2: "Finished", 3: "Aborted"},
                status_state={1: 0, 2: 0, 3: 1},
            ),
        ],
        otc=otc,
        primary_id="businessprocessflowinstanceid",
    )
    table.custom = True
    table.display = display
    table.is_bpf = True
    return table


def process_seed_rows() -> list[tuple[str, str, dict[str, Any]]]:
    """(table, id, body) for the seeded flow definition and its stages, created once per sandbox database."""
    rows: list[tuple[str, str, dict[str, Any]]] = [
        (
            "workflow",
            FOI_FLOW.workflow_id,
            {
                "name": FOI_FLOW.name,
                "uniquename": FOI_FLOW.uniquename,
                "category": 4,
                "primaryentity": "incident",
                "type": 1,
                "statecode": 1,
                "statuscode": 2,
            },
        )
    ]
    for sid, name, category in FOI_FLOW.stages:
        rows.append(
            (
                "processstage",
                sid,
                {
                    "stagename": name,
                    "processid@odata.bind": f"/workflows({FOI_FLOW.workflow_id})",
                    "stagecategory": category,
                    "primaryentitytypecode": "incident",
                },
            )
        )
    return rows


#: Relationship names Microsoft uses for the collection side of well-known lookups.
_KNOWN_COLLECTIONS = {
    ("email", "regardingobjectid", "incident"): "Incident_Emails",
    ("task", "regardingobjectid", "incident"): "Incident_Tasks",
    ("annotation", "objectid", "incident"): "Incident_Annotation",
    ("incidentresolution", "incidentid", "incident"): "Incident_IncidentResolutions",
    ("email", "regardingobjectid", "contact"): "Contact_Emails",
    ("task", "regardingobjectid", "contact"): "Contact_Tasks",
    ("task", "regardingobjectid", "account"): "Account_Tasks",
    ("email", "regardingobjectid", "account"): "Account_Emails",
    ("activityparty", "activityid", "email"): "email_activity_parties",
    ("activityparty", "activityid", "task"): "task_activity_parties",
    ("contact", "parentcustomerid", "account"): "contact_customer_accounts",
    ("incident", "customerid", "contact"): "incident_customer_contacts",
    ("incident", "customerid", "account"): "incident_customer_accounts",
    ("account", "primarycontactid", "contact"): "account_primary_contact",
}


def single_nav_name(table: Table, attr: Attribute, target: str) -> str:
    """Microsoft's naming: one nav per target on polymorphic lookups; activity regarding carries the activity."""
    if attr.logical == "regardingobjectid" and table.is_activity:
        return f"regardingobjectid_{target}_{table.logical}"
    if attr.logical in ("partyid", "objectid") or attr.type in (CUSTOMER,) or len(attr.targets) > 1:
        if attr.type == OWNER:
            return "ownerid"
        return f"{attr.logical}_{target}"
    return attr.schema if attr.custom and attr.schema else attr.logical


def build_navigation(tables: dict[str, Table]) -> None:
    """Derive navigation properties from lookup columns (both sides), so custom lookups get them too."""
    for table in tables.values():
        table.navs = {k: v for k, v in table.navs.items() if v.kind in ("explicit", "n2n")}
    for table in tables.values():
        for attr in table.attributes.values():
            if attr.type not in LOOKUP_TYPES:
                continue
            for target in attr.targets:
                name = single_nav_name(table, attr, target)
                rel = (
                    attr.relationship
                    or _KNOWN_COLLECTIONS.get((table.logical, attr.logical, target))
                    or f"{target}_{table.logical}_{attr.logical}"
                )
                if name not in table.navs:
                    table.navs[name] = NavProperty(name, "single", attr.logical, target, rel)
                if target in tables:
                    coll = attr.referenced_nav or rel
                    tables[target].navs.setdefault(
                        coll, NavProperty(coll, "collection", attr.logical, table.logical, rel)
                    )


def table_to_json(table: Table) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(table)
    data.pop("navs", None)
    return data


def table_from_json(data: dict[str, Any]) -> Table:
    attrs = {}
    for name, a in data["attributes"].items():
        a = dict(a)
        for k in ("options", "status_state"):
            if a.get(k) is not None:
                a[k] = {int(x): y for x, y in a[k].items()}
        attrs[name] = Attribute(**a)
    keys = [Key(**k) for k in data.get("keys", [])]
    rest = {k: v for k, v in data.items() if k not in ("attributes", "keys", "navs")}
    return Table(attributes=attrs, keys=keys, **rest)
