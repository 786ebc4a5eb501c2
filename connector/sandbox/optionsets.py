"""Global choices (option sets): GlobalOptionSetDefinitions and the option value messages.

Learn "Create and update choices using the Web API" (webapi/create-update-optionsets): `POST
GlobalOptionSetDefinitions` (204, OData-EntityId with the MetadataId), `GET GlobalOptionSetDefinitions[(id) |
(Name='x')][/Microsoft.Dynamics.CRM.OptionSetMetadata]`, `PUT` to update the definition, `DELETE`; a choice column
uses one through `"GlobalOptionSet@odata.bind": "/GlobalOptionSetDefinitions(<id>)"`; InsertOptionValue,
UpdateOptionValue, DeleteOptionValue and OrderOption change the options of a global set (OptionSetName) or of a
column's local set (EntityLogicalName + AttributeLogicalName). Definitions persist with the custom schema.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from connector.sandbox.errors import DvError
from connector.sandbox.schema import Table, label
from connector.sandbox.store import Store

RECORD = "__optionsets__"  # custom_schema key of the saved definitions


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        for loc in value.get("LocalizedLabels") or []:
            if isinstance(loc, dict) and isinstance(loc.get("Label"), str):
                return str(loc["Label"])
    return None


class OptionSets:
    def __init__(self, store: Store, tables: dict[str, Table]) -> None:
        self.store = store
        self.tables = tables
        self.items: dict[
            str, dict[str, Any]
        ] = {}  # by Name: {"id", "name", "display", "description", "type", "options"}

    def load(self, saved: dict[str, Any]) -> None:
        for item in saved.get("items", []):
            item["options"] = {int(k): v for k, v in item["options"].items()}
            self.items[item["name"]] = item

    def _save(self) -> None:
        self.store.save_custom_table(RECORD, {"kind": "optionsets", "items": list(self.items.values())})

    # ------------------------------------------------------------------ definitions
    def find(self, key: str) -> dict[str, Any]:
        m = re.fullmatch(r"Name='([^']*)'", key)
        for item in self.items.values():
            if (m and item["name"] == m.group(1)) or item["id"] == key.lower():
                return item
        raise DvError(404, "0x80040217", f"Could not find optionset with key {key}.")

    def to_metadata(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "@odata.type": "#Microsoft.Dynamics.CRM.OptionSetMetadata",
            "MetadataId": item["id"],
            "Name": item["name"],
            "IsGlobal": True,
            "IsCustomOptionSet": True,
            "IsManaged": False,
            "OptionSetType": item["type"],
            "DisplayName": label(item.get("display") or item["name"]),
            "Description": label(item.get("description") or ""),
            "Options": [
                {"Value": v, "Label": label(text), "Description": label(""), "IsManaged": False}
                for v, text in item["options"].items()
            ],
        }

    def create(self, body: dict[str, Any]) -> str:
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise DvError(400, "0x80040203", "A global option set needs a Name.")
        if name in self.items:
            raise DvError(400, "0x80044363", f"An option set with the name {name} already exists.")
        if str(body.get("OptionSetType", "Picklist")) != "Picklist":
            raise DvError(400, "0x80040203", "The sandbox creates global option sets of type Picklist only.")
        options: dict[int, str] = {}
        for opt in body.get("Options") or []:
            if not isinstance(opt, dict) or not isinstance(opt.get("Value"), int):
                raise DvError(400, "0x80040203", "Each option needs an integer Value.")
            options[int(opt["Value"])] = _text(opt.get("Label")) or str(opt["Value"])
        item = {
            "id": str(body.get("MetadataId") or uuid.uuid4()).lower(),
            "name": name,
            "display": _text(body.get("DisplayName")),
            "description": _text(body.get("Description")),
            "type": "Picklist",
            "options": options,
        }
        self.items[name] = item
        self._save()
        return str(item["id"])

    def update(self, key: str, body: dict[str, Any]) -> None:
        item = self.find(key)
        item["display"] = _text(body.get("DisplayName")) or item.get("display")
        item["description"] = _text(body.get("Description")) or item.get("description")
        self._save()

    def delete(self, key: str) -> None:
        item = self.find(key)
        users = [
            f"{t.logical}.{a.logical}"
            for t in self.tables.values()
            for a in t.attributes.values()
            if a.global_option_set == item["name"]
        ]
        if users:
            raise DvError(
                400,
                "0x80040203",
                f"The option set {item['name']} is used by {', '.join(users)}; delete those columns first.",
            )
        del self.items[item["name"]]
        self._save()

    def sync_columns(self, name: str) -> list[Table]:
        """Copy a global set's options onto every column that uses it; -> the tables changed."""
        changed = []
        options = dict(self.items[name]["options"])
        for t in self.tables.values():
            for a in t.attributes.values():
                if a.global_option_set == name:
                    a.options = dict(options)
                    changed.append(t)
        return changed

    # ------------------------------------------------------------------ option value messages
    def options_of(self, body: dict[str, Any]) -> tuple[dict[int, str], str | None, Table | None]:
        """-> (the options dict to change, global set name or None, the table of a local set)."""
        if body.get("OptionSetName"):
            item = self.items.get(str(body["OptionSetName"]))
            if item is None:
                raise DvError(404, "0x80040217", f"Could not find optionset {body['OptionSetName']}.")
            return item["options"], item["name"], None
        table = self.tables.get(str(body.get("EntityLogicalName") or ""))
        attr = table.attributes.get(str(body.get("AttributeLogicalName") or "")) if table else None
        if table is None or attr is None or attr.options is None:
            raise DvError(
                400, "0x80040203", "Name the option set: OptionSetName, or EntityLogicalName and AttributeLogicalName."
            )
        if attr.global_option_set:
            return self.items[attr.global_option_set]["options"], attr.global_option_set, None
        return attr.options, None, table

    def message(self, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[Table]]:
        """InsertOptionValue / UpdateOptionValue / DeleteOptionValue / OrderOption -> (response, tables to save)."""
        options, global_name, table = self.options_of(body)
        out: dict[str, Any] = {}
        if name == "InsertOptionValue":
            value = body.get("Value")
            if value is None:
                value = max([100000000 - 1, *options]) + 1  # the publisher's prefix range, as the service does
            if not isinstance(value, int) or value in options:
                raise DvError(400, "0x80044363", f"The option value {value} already exists or is not a whole number.")
            options[value] = _text(body.get("Label")) or str(value)
            out["NewOptionValue"] = value
        elif name == "UpdateOptionValue":
            value = body.get("Value")
            if value not in options:
                raise DvError(404, "0x80040217", f"The option value {value} does not exist.")
            options[int(value)] = _text(body.get("Label")) or options[int(value)]
        elif name == "DeleteOptionValue":
            value = body.get("Value")
            if value not in options:
                raise DvError(404, "0x80040217", f"The option value {value} does not exist.")
            del options[int(value)]
        elif name == "OrderOption":
            values = body.get("Values")
            if not isinstance(values, list) or sorted(values) != sorted(options):
                raise DvError(400, "0x80040203", "OrderOption needs Values: every option value, in the new order.")
            reordered = {int(v): options[int(v)] for v in values}
            options.clear()
            options.update(reordered)
        changed: list[Table] = []
        if global_name:
            self._save()
            changed = self.sync_columns(global_name)
        elif table is not None:
            changed = [table]
        return out, changed
