"""Custom APIs (defined as rows) and background operations.

Learn "Create and use custom APIs" (custom-api, customapi-tables): a custom API is a `customapi` row (uniquename,
bindingtype 0 Global / 1 Entity / 2 EntityCollection, boundentitylogicalname, isfunction) with
`customapirequestparameter` and `customapiresponseproperty` rows (deep insert through `CustomAPIRequestParameters`
and `CustomAPIResponseProperties`); it is called like any action (POST) or function (GET), bound or unbound. The
sandbox runs no plug-ins, so a call checks the required parameters and answers the response properties unset
(null), or 204 when it has none (what a custom API without a plug-in type does).

Learn "Background operations" (background-operations): a custom API call sent with `Prefer: respond-async` answers
`202 Accepted` with `Location: [Organization URI]/api/backgroundoperation/<id>`, `x-ms-dyn-backgroundoperationid`
and `Preference-Applied: respond-async`, and writes a `backgroundoperation` row; `GET` on the status monitor answers
`backgroundOperationStateCode`/`backgroundOperationStatusCode` and, when done, the output parameters; `DELETE`
cancels one that has not started (`2`/`22`) and refuses one in a terminal state ("Canceling background operation is
not allowed after it is in terminal state."). Dataverse runs the operation when it gets to it; the sandbox runs it
when its status is first read, so a client can cancel it before that, deterministically.
"""

from __future__ import annotations

import json
from typing import Any

from connector.sandbox.csdl import Operation
from connector.sandbox.errors import DvError
from connector.sandbox.records import Records, now_iso
from connector.sandbox.schema import Table

_TYPES = {
    0: "Boolean",
    1: "DateTime",
    2: "Decimal",
    3: "Entity",
    4: "EntityCollection",
    5: "EntityReference",
    6: "Float",
    7: "Integer",
    8: "Money",
    9: "Picklist",
    10: "String",
    11: "StringArray",
    12: "Guid",
}
#: Learn "Custom API tables" (type column) -> the Edm type `$metadata` declares.
_EDM = {
    0: "Edm.Boolean",
    1: "Edm.DateTimeOffset",
    2: "Edm.Decimal",
    3: "mscrm.crmbaseentity",
    4: "Collection(mscrm.crmbaseentity)",
    5: "mscrm.crmbaseentity",
    6: "Edm.Double",
    7: "Edm.Int32",
    8: "Edm.Decimal",
    9: "Edm.Int32",
    10: "Edm.String",
    11: "Collection(Edm.String)",
    12: "Edm.Guid",
}
TERMINAL = "Canceling background operation is not allowed after it is in terminal state."


class CustomApis:
    def __init__(self, records: Records) -> None:
        self.records = records

    def find(self, name: str, binding: int, entity: str | None = None) -> dict[str, Any] | None:
        """The customapi row called `name` with that binding (and bound table), or None."""
        if "customapi" not in self.records.tables:
            return None
        for _, row in self.records.store.scan_eq("customapi", "uniquename", name):
            if str(row.get("uniquename", "")).lower() != name.lower() or int(row.get("bindingtype") or 0) != binding:
                continue
            if entity is not None and str(row.get("boundentitylogicalname") or "") != entity:
                continue
            return row
        return None

    def _children(self, table: str, api_id: str) -> list[dict[str, Any]]:
        return [
            r
            for _, r in self.records.store.scan_eq(table, "_customapiid_value", api_id)
            if r.get("_customapiid_value") == api_id
        ]

    def call(self, api: dict[str, Any], method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """Check the call against the definition; -> the response properties (None when there are none)."""
        is_function = bool(api.get("isfunction"))
        if (method == "GET") != is_function:
            kind = "function (GET)" if is_function else "action (POST)"
            raise DvError(405, "0x80060888", f"The custom API {api['uniquename']} is a {kind}.")
        params = self._children("customapirequestparameter", api["customapiid"])
        known = {str(p["uniquename"]) for p in params}
        for p in params:
            if not p.get("isoptional") and p["uniquename"] not in args:
                raise DvError(
                    400,
                    "0x80040203",
                    f"Required parameter '{p['uniquename']}' ({_TYPES.get(int(p.get('type') or 0), '?')}) is missing "
                    f"for the custom API {api['uniquename']}.",
                )
        extra = [k for k in args if k not in known and not k.startswith("@")]
        if extra:
            raise DvError(400, "0x80040203", f"The custom API {api['uniquename']} has no parameter '{extra[0]}'.")
        props = self._children("customapiresponseproperty", api["customapiid"])
        if not props:
            return None
        return {str(p["uniquename"]): None for p in props}

    def declarations(self) -> tuple[tuple[Operation, ...], dict[str, list[tuple[str, str]]]]:
        """The custom APIs as `$metadata` declares them: one Action or Function each, and a `<name>Response`
        complex type holding the response properties (Learn "Custom API tables": the type column's Edm types)."""
        ops: list[Operation] = []
        types: dict[str, list[tuple[str, str]]] = {}
        if "customapi" not in self.records.tables:
            return (), {}
        for _, api in self.records.store.scan("customapi"):
            name = str(api["uniquename"])
            params = tuple(
                (str(p["uniquename"]), _EDM.get(int(p.get("type") or 0), "Edm.String"))
                for p in self._children("customapirequestparameter", api["customapiid"])
            )
            props = [
                (str(p["uniquename"]), _EDM.get(int(p.get("type") or 0), "Edm.String"))
                for p in self._children("customapiresponseproperty", api["customapiid"])
            ]
            returns = None
            if props:
                types[f"{name}Response"] = props
                returns = f"mscrm.{name}Response"
            binding = int(api.get("bindingtype") or 0)
            entity = str(api.get("boundentitylogicalname") or "")
            bound_to = None
            if binding and entity in self.records.tables:
                bound_to = f"mscrm.{entity}" if binding == 1 else f"Collection(mscrm.{entity})"
            kind = "Function" if api.get("isfunction") else "Action"
            ops.append(Operation(name, kind, params, returns, bound_to))
        return tuple(ops), types

    # ------------------------------------------------------------------ background operations
    def queue(self, api: dict[str, Any], args: dict[str, Any], user: str, pending: dict[str, Any]) -> str:
        """Write the backgroundoperation row (Ready / Waiting For Resources) for a respond-async call."""
        table = self.records.tables["backgroundoperation"]
        inputs = json.dumps([{"Key": k, "Value": v} for k, v in args.items()])
        rid, _ = self.records.create(
            table,
            {
                "name": api["uniquename"],
                "displayname": api.get("displayname") or api["uniquename"],
                "inputparameters": inputs,
                "backgroundoperationstatecode": 0,
                "backgroundoperationstatuscode": 0,
                "runas": user,
                "retrycount": 0,
            },
            user,
        )
        pending[rid] = (api, args)
        return rid

    def status(self, rid: str, user: str, pending: dict[str, Any]) -> dict[str, Any]:
        table = self.records.tables["backgroundoperation"]
        row = self.records.store.get("backgroundoperation", rid)
        if row is None:
            raise DvError(404, "", f"Could not find item '{rid}'.")
        if rid in pending and row.get("backgroundoperationstatecode") == 0:
            api, args = pending.pop(rid)
            values: dict[str, Any] = {"starttime": now_iso(), "endtime": now_iso()}
            try:
                out = self.call(api, "GET" if api.get("isfunction") else "POST", args) or {}
                values.update(
                    backgroundoperationstatecode=3,
                    backgroundoperationstatuscode=30,
                    outputparameters=json.dumps([{"Key": k, "Value": v} for k, v in out.items()]),
                )
            except DvError as err:
                code = int(err.code, 16) - (1 << 32) if err.code.startswith("0x") else 0
                values.update(
                    backgroundoperationstatecode=3,
                    backgroundoperationstatuscode=31,
                    errorcode=code,
                    errormessage=err.message,
                )
            row = self.records.update(table, rid, values, user)
        body: dict[str, Any] = {
            "backgroundOperationStateCode": row.get("backgroundoperationstatecode"),
            "backgroundOperationStatusCode": row.get("backgroundoperationstatuscode"),
        }
        if row.get("backgroundoperationstatuscode") == 31:
            body["backgroundOperationErrorCode"] = row.get("errorcode")
            body["backgroundOperationErrorMessage"] = row.get("errormessage")
        if row.get("backgroundoperationstatuscode") == 30:
            for item in json.loads(row.get("outputparameters") or "[]"):
                body[item["Key"]] = item["Value"]
        return body

    def cancel(self, rid: str, user: str, pending: dict[str, Any]) -> dict[str, Any]:
        table = self.records.tables["backgroundoperation"]
        row = self.records.store.get("backgroundoperation", rid)
        if row is None:
            raise DvError(404, "", f"Could not find item '{rid}'.")
        if row.get("backgroundoperationstatecode") == 3:
            raise DvError(400, "0x80040203", TERMINAL)
        pending.pop(rid, None)  # not started: it never runs
        self.records.update(table, rid, {"backgroundoperationstatecode": 2, "backgroundoperationstatuscode": 22}, user)
        self.records.update(
            table,
            rid,
            {"backgroundoperationstatecode": 3, "backgroundoperationstatuscode": 32, "endtime": now_iso()},
            user,
        )
        return {"backgroundOperationStateCode": 2, "backgroundOperationStatusCode": 22}


def tables() -> list[Table]:
    """customapi, customapirequestparameter, customapiresponseproperty and backgroundoperation."""
    from connector.sandbox.schema import BOOLEAN, DATETIME, INTEGER, LOOKUP, MEMO, PICKLIST, STRING, Attribute, _t

    customapi = _t(
        "customapi",
        "customapis",
        "name",
        [
            Attribute("uniquename", STRING, 128, required="SystemRequired"),
            Attribute("name", STRING, 100),
            Attribute("displayname", STRING, 100),
            Attribute("description", STRING, 300),
            Attribute("bindingtype", PICKLIST, options={0: "Global", 1: "Entity", 2: "Entity Collection"}),
            Attribute("boundentitylogicalname", STRING, 100),
            Attribute("isfunction", BOOLEAN),
            Attribute("isprivate", BOOLEAN),
            Attribute(
                "allowedcustomprocessingsteptype",
                PICKLIST,
                options={0: "None", 1: "Async Only", 2: "Sync and Async"},
            ),
            Attribute("executeprivilegename", STRING, 100),
            Attribute("workflowsdkstepenabled", BOOLEAN),
            Attribute("iscustomizable", "ManagedProperty"),
        ],
        otc=10027,
    )
    child_cols = [
        Attribute("uniquename", STRING, 128, required="SystemRequired"),
        Attribute("name", STRING, 100),
        Attribute("displayname", STRING, 100),
        Attribute("description", STRING, 300),
        Attribute("type", PICKLIST, options=dict(_TYPES)),
        Attribute("logicalentityname", STRING, 100),
        Attribute("iscustomizable", "ManagedProperty"),
    ]
    request = _t(
        "customapirequestparameter",
        "customapirequestparameters",
        "name",
        [
            *child_cols,
            Attribute("isoptional", BOOLEAN),
            Attribute(
                "customapiid",
                LOOKUP,
                targets=["customapi"],
                relationship="customapi_customapirequestparameter",
                referenced_nav="CustomAPIRequestParameters",
            ),
        ],
        otc=10028,
    )
    response = _t(
        "customapiresponseproperty",
        "customapiresponseproperties",
        "name",
        [
            *[Attribute(a.logical, a.type, a.max_length, a.required, a.options) for a in child_cols],
            Attribute(
                "customapiid",
                LOOKUP,
                targets=["customapi"],
                relationship="customapi_customapiresponseproperty",
                referenced_nav="CustomAPIResponseProperties",
            ),
        ],
        otc=10029,
    )
    background = _t(
        "backgroundoperation",
        "backgroundoperations",
        "name",
        [
            Attribute("name", STRING, 256),
            Attribute("displayname", STRING, 256),
            Attribute("inputparameters", MEMO, 1048576),
            Attribute("outputparameters", MEMO, 1048576),
            Attribute("starttime", DATETIME),
            Attribute("endtime", DATETIME),
            Attribute("retrycount", INTEGER, min_value=0, max_value=100),
            Attribute("errorcode", INTEGER, min_value=-2147483648, max_value=2147483647),
            Attribute("errormessage", MEMO, 1048576),
            Attribute("runas", STRING, 100),
            Attribute("ttlinseconds", INTEGER, min_value=0, max_value=2147483647),
            Attribute("backgroundoperationstatecode", PICKLIST, options={0: "Ready", 2: "Locked", 3: "Completed"}),
            Attribute(
                "backgroundoperationstatuscode",
                PICKLIST,
                options={
                    0: "Waiting For Resources",
                    20: "In Progress",
                    22: "Canceling",
                    30: "Succeeded",
                    31: "Failed",
                    32: "Canceled",
                },
            ),
        ],
        otc=10030,
        owner=False,
    )
    return [customapi, request, response, background]
