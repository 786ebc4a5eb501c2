"""Standard tables every Dynamics 365 tenant has beyond the ones foi-sync uses, and their seeded rows.

Learn's table/column references (lead, opportunity, phonecall, transactioncurrency, duplicaterule,
duplicaterulecondition) give the columns, choices and state/status pairs below. Money columns carry the documented
companions: a `<column>_base` value in the organisation's base currency, `transactioncurrencyid` and `exchangerate`
(Learn "Currency columns": base = value / exchange rate). The base currency is seeded as Pound Sterling (GBP).
Duplicate detection rules are seeded as Learn says a tenant has them: published rules for accounts, contacts and
leads ("Detect duplicate data using the Web API").
"""

from __future__ import annotations

import uuid
from typing import Any

from connector.sandbox.schema import (
    BOOLEAN,
    CUSTOMER,
    DATETIME,
    DECIMAL,
    INTEGER,
    LOOKUP,
    MEMO,
    MONEY,
    PICKLIST,
    STATE,
    STATUS,
    STRING,
    Attribute,
    Table,
    _activity,
    _t,
)


def _sid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "foi-sync-sandbox/" + "/".join(parts)))


#: The organisation's base currency (transactioncurrency row), exchange rate 1.
BASE_CURRENCY_ID = _sid("transactioncurrency", "GBP")

_LEAD_SOURCE = {1: "Advertisement", 2: "Employee Referral", 3: "External Referral", 4: "Partner", 8: "Web", 10: "Other"}


def currency_columns() -> list[Attribute]:
    """transactioncurrencyid and exchangerate: on every table that has a money column."""
    return [
        Attribute("transactioncurrencyid", LOOKUP, targets=["transactioncurrency"]),
        Attribute("exchangerate", DECIMAL, min_value=0.0000000001, max_value=100000000000, read_only=True),
    ]


def add_money_companions(table: Table) -> None:
    """Give every money column its read-only `_base` companion, and the table its currency columns."""
    money = [a for a in table.attributes.values() if a.type == MONEY and not a.logical.endswith("_base")]
    if not money:
        return
    for attr in money:
        base = f"{attr.logical}_base"
        if base not in table.attributes:
            table.attributes[base] = Attribute(
                base,
                MONEY,
                read_only=True,
                custom=attr.custom,
                schema=(attr.schema + "_Base") if attr.schema else None,
                min_value=attr.min_value,
                max_value=attr.max_value,
            )
    for col in currency_columns():
        table.attributes.setdefault(col.logical, col)


def standard_tables() -> list[Table]:
    lead = _t(
        "lead",
        "leads",
        "fullname",
        [
            Attribute("subject", STRING, 300),
            Attribute("firstname", STRING, 50),
            Attribute("lastname", STRING, 50, required="ApplicationRequired"),
            Attribute("fullname", STRING, 160, read_only=True),
            Attribute("companyname", STRING, 100),
            Attribute("jobtitle", STRING, 100),
            Attribute("emailaddress1", STRING, 100),
            Attribute("telephone1", STRING, 50),
            Attribute("mobilephone", STRING, 20),
            Attribute("fax", STRING, 50),
            Attribute("websiteurl", STRING, 200),
            Attribute("address1_line1", STRING, 250),
            Attribute("address1_city", STRING, 80),
            Attribute("address1_postalcode", STRING, 20),
            Attribute("address1_country", STRING, 80),
            Attribute("description", MEMO, 2000),
            Attribute("numberofemployees", INTEGER, min_value=0, max_value=1000000),
            Attribute("revenue", MONEY, min_value=0, max_value=100000000000000),
            Attribute("estimatedamount", MONEY, min_value=-922337203685477, max_value=922337203685477),
            Attribute("budgetamount", MONEY, min_value=0, max_value=922337203685477),
            Attribute("estimatedclosedate", DATETIME, date_only=True),
            Attribute("leadsourcecode", PICKLIST, options=dict(_LEAD_SOURCE)),
            Attribute("leadqualitycode", PICKLIST, options={1: "Hot", 2: "Warm", 3: "Cold"}),
            Attribute("industrycode", PICKLIST, options={1: "Accounting", 2: "Agriculture", 33: "Government"}),
            Attribute("donotemail", BOOLEAN),
            Attribute("parentaccountid", LOOKUP, targets=["account"]),
            Attribute("parentcontactid", LOOKUP, targets=["contact"]),
            Attribute("customerid", CUSTOMER, targets=["account", "contact"]),
            Attribute("statecode", STATE, options={0: "Open", 1: "Qualified", 2: "Disqualified"}),
            Attribute(
                "statuscode",
                STATUS,
                options={
                    1: "New",
                    2: "Contacted",
                    3: "Qualified",
                    4: "Lost",
                    5: "Cannot Contact",
                    6: "No Longer Interested",
                    7: "Canceled",
                },
                status_state={1: 0, 2: 0, 3: 1, 4: 2, 5: 2, 6: 2, 7: 2},
            ),
        ],
        otc=4,
    )
    opportunity = _t(
        "opportunity",
        "opportunities",
        "name",
        [
            Attribute("name", STRING, 300, required="ApplicationRequired"),
            Attribute("description", MEMO, 2000),
            Attribute("customerid", CUSTOMER, targets=["account", "contact"]),
            Attribute("parentaccountid", LOOKUP, targets=["account"]),
            Attribute("parentcontactid", LOOKUP, targets=["contact"]),
            Attribute("originatingleadid", LOOKUP, targets=["lead"]),
            Attribute("estimatedvalue", MONEY, min_value=-922337203685477, max_value=922337203685477),
            Attribute("actualvalue", MONEY, min_value=-922337203685477, max_value=922337203685477),
            Attribute("budgetamount", MONEY, min_value=0, max_value=922337203685477),
            Attribute("estimatedclosedate", DATETIME, date_only=True),
            Attribute("actualclosedate", DATETIME, date_only=True),
            Attribute("closeprobability", INTEGER, min_value=0, max_value=100),
            Attribute("opportunityratingcode", PICKLIST, options={1: "Hot", 2: "Warm", 3: "Cold"}),
            Attribute(
                "purchasetimeframe",
                PICKLIST,
                options={0: "Immediate", 1: "This Quarter", 2: "Next Quarter", 3: "This Year", 4: "Unknown"},
            ),
            Attribute("stepname", STRING, 200),
            Attribute("statecode", STATE, options={0: "Open", 1: "Won", 2: "Lost"}),
            Attribute(
                "statuscode",
                STATUS,
                options={1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled", 5: "Out-Sold"},
                status_state={1: 0, 2: 0, 3: 1, 4: 2, 5: 2},
            ),
        ],
        otc=3,
    )
    phonecall = _activity(
        "phonecall",
        "phonecalls",
        4210,
        [
            Attribute("phonenumber", STRING, 200),
            Attribute("directioncode", BOOLEAN),
            Attribute("actualdurationminutes", INTEGER, min_value=0, max_value=2147483647),
            Attribute("from", "PartyList", targets=["systemuser", "contact", "account", "lead"]),
            Attribute("to", "PartyList", targets=["contact", "account", "lead", "systemuser"]),
        ],
        {1: ("Open", 0), 2: ("Made", 1), 4: ("Received", 1), 3: ("Canceled", 2)},
    )
    currency = _t(
        "transactioncurrency",
        "transactioncurrencies",
        "currencyname",
        [
            Attribute("currencyname", STRING, 100, required="SystemRequired"),
            Attribute("isocurrencycode", STRING, 5, required="SystemRequired"),
            Attribute("currencysymbol", STRING, 13, required="SystemRequired"),
            Attribute(
                "exchangerate", DECIMAL, min_value=0.0000000001, max_value=100000000000, required="SystemRequired"
            ),
            Attribute("currencyprecision", INTEGER, min_value=0, max_value=4),
            Attribute("statecode", STATE, options={0: "Active", 1: "Inactive"}),
            Attribute("statuscode", STATUS, options={1: "Active", 2: "Inactive"}, status_state={1: 0, 2: 1}),
        ],
        otc=9105,
        owner=False,
    )
    currency.ownership = "OrganizationOwned"
    rule = _t(
        "duplicaterule",
        "duplicaterules",
        "name",
        [
            Attribute("name", STRING, 160, required="SystemRequired"),
            Attribute("description", MEMO, 2000),
            Attribute("baseentityname", STRING, 100, required="SystemRequired"),
            Attribute("matchingentityname", STRING, 100, required="SystemRequired"),
            Attribute("iscasesensitive", BOOLEAN),
            Attribute("excludeinactiverecords", BOOLEAN),
            Attribute("statecode", STATE, options={0: "Inactive", 1: "Active"}),
            Attribute(
                "statuscode",
                STATUS,
                options={0: "Unpublished", 1: "Publishing", 2: "Published"},
                status_state={0: 0, 1: 0, 2: 1},
            ),
        ],
        otc=4414,
    )
    condition = _t(
        "duplicaterulecondition",
        "duplicateruleconditions",
        "baseattributename",
        [
            Attribute("baseattributename", STRING, 50, required="SystemRequired"),
            Attribute("matchingattributename", STRING, 50, required="SystemRequired"),
            Attribute(
                "operatorcode",
                PICKLIST,
                options={
                    0: "Exact Match",
                    1: "Same First Characters",
                    2: "Same Last Characters",
                    3: "Same Date",
                    4: "Same Date and Time",
                    5: "Exact Match (Pick List Label)",
                    6: "Exact Match (Pick List Value)",
                },
            ),
            Attribute("operatorparam", INTEGER, min_value=0, max_value=1000),
            Attribute("ignoreblankvalues", BOOLEAN),
            Attribute(
                "regardingobjectid",
                LOOKUP,
                targets=["duplicaterule"],
                relationship="DuplicateRule_DuplicateRuleConditions",
            ),
        ],
        otc=4415,
        owner=False,
    )
    # regardingobjectid on a condition is a plain lookup (single nav "regardingobjectid"), not an activity's.
    condition.attributes["regardingobjectid"].referenced_nav = "DuplicateRule_DuplicateRuleConditions"
    # Learn "Retrieve and execute predefined queries": system views (savedquery) and personal views (userquery) hold
    # a FetchXML query that `GET <set>?savedQuery=<id>` / `?userQuery=<id>` runs.
    view_cols = [
        Attribute("name", STRING, 200, required="SystemRequired"),
        Attribute("returnedtypecode", "EntityName", required="SystemRequired"),
        Attribute("fetchxml", MEMO, 1073741823),
        Attribute("layoutxml", MEMO, 1073741823),
        Attribute("querytype", INTEGER, min_value=0, max_value=2147483647),
        Attribute("description", MEMO, 2000),
    ]
    savedquery = _t(
        "savedquery",
        "savedqueries",
        "name",
        [*view_cols, Attribute("isdefault", BOOLEAN), Attribute("isquickfindquery", BOOLEAN)],
        otc=1039,
        owner=False,
    )
    savedquery.ownership = "OrganizationOwned"
    userquery = _t(
        "userquery",
        "userqueries",
        "name",
        [
            Attribute(a.logical, a.type, a.max_length, a.required, min_value=a.min_value, max_value=a.max_value)
            for a in view_cols
        ],
        otc=4230,
    )
    # System jobs (Learn asyncoperation table): BulkDelete's JobId and PublishDuplicateRule's answer are rows here.
    asyncoperation = _t(
        "asyncoperation",
        "asyncoperations",
        "name",
        [
            Attribute("name", STRING, 500),
            Attribute("operationtype", INTEGER, min_value=0, max_value=2147483647),
            Attribute("message", MEMO, 1073741823),
            Attribute("completedon", DATETIME),
            Attribute("statecode", STATE, options={0: "Ready", 1: "Suspended", 2: "Locked", 3: "Completed"}),
            Attribute(
                "statuscode",
                STATUS,
                options={
                    0: "Waiting For Resources",
                    10: "Waiting",
                    20: "In Progress",
                    30: "Succeeded",
                    31: "Failed",
                    32: "Canceled",
                },
                status_state={0: 0, 10: 1, 20: 2, 30: 3, 31: 3, 32: 3},
            ),
        ],
        otc=4700,
    )
    tables = [lead, opportunity, phonecall, currency, rule, condition, savedquery, userquery, asyncoperation]
    for t in tables:
        add_money_companions(t)
    return tables


#: Learn: "Dataverse includes default duplicate detection rules for accounts, contacts, and leads".
_DEFAULT_RULES = (
    ("Accounts with the same Account Name", "account", "name"),
    ("Accounts with the same e-mail address", "account", "emailaddress1"),
    ("Contacts with the same e-mail address", "contact", "emailaddress1"),
    ("Leads with the same e-mail address", "lead", "emailaddress1"),
)


#: System views a tenant has out of the box (a few of them), as savedquery rows with their FetchXML.
_DEFAULT_VIEWS = (
    ("Active Accounts", "account", ("name", "telephone1", "address1_city", "accountid")),
    ("Active Contacts", "contact", ("fullname", "emailaddress1", "telephone1", "contactid")),
    ("Open Leads", "lead", ("fullname", "companyname", "emailaddress1", "leadid")),
    ("Open Opportunities", "opportunity", ("name", "estimatedvalue", "estimatedclosedate", "opportunityid")),
)


def standard_seed_rows() -> list[tuple[str, str, dict[str, Any]]]:
    """(table, id, body): the base currency and the default, published duplicate detection rules."""
    rows: list[tuple[str, str, dict[str, Any]]] = [
        (
            "transactioncurrency",
            BASE_CURRENCY_ID,
            {
                "currencyname": "Pound Sterling",
                "isocurrencycode": "GBP",
                "currencysymbol": "£",
                "exchangerate": 1.0,
                "currencyprecision": 2,
            },
        )
    ]
    for name, entity, cols in _DEFAULT_VIEWS:
        attrs = "".join(f"<attribute name='{c}' />" for c in cols)
        rows.append(
            (
                "savedquery",
                _sid("savedquery", name),
                {
                    "name": name,
                    "returnedtypecode": entity,
                    "querytype": 0,
                    "isdefault": True,
                    "fetchxml": (
                        f"<fetch version='1.0' mapping='logical'><entity name='{entity}'>{attrs}"
                        f"<order attribute='{cols[0]}' descending='false' /><filter type='and'>"
                        "<condition attribute='statecode' operator='eq' value='0' /></filter></entity></fetch>"
                    ),
                },
            )
        )
    for name, entity, column in _DEFAULT_RULES:
        rule_id = _sid("duplicaterule", name)
        rows.append(
            (
                "duplicaterule",
                rule_id,
                {
                    "name": name,
                    "baseentityname": entity,
                    "matchingentityname": entity,
                    "iscasesensitive": False,
                    "excludeinactiverecords": False,
                    "statecode": 1,
                    "statuscode": 2,
                },
            )
        )
        rows.append(
            (
                "duplicaterulecondition",
                _sid("duplicaterulecondition", name),
                {
                    "baseattributename": column,
                    "matchingattributename": column,
                    "operatorcode": 0,
                    "ignoreblankvalues": True,
                    "regardingobjectid@odata.bind": f"/duplicaterules({rule_id})",
                },
            )
        )
    return rows
