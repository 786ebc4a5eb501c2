"""More documented messages clients call: lead qualification, opportunity close, file blocks, version.

- QualifyLead (Learn webapi/reference/qualifylead; "Qualify a lead" in the sales docs): bound to lead; creates the
  account (from companyname), contact (first/last name, email) and opportunity (from subject, with the lead as
  originatingleadid) asked for, marks the lead Qualified with the given Status, and answers the created records.
- WinOpportunity / LoseOpportunity (webapi/reference/winopportunity, loseopportunity): unbound, `OpportunityClose`
  names the opportunity; Won is statecode 1, Lost statecode 2, with the given Status.
- InitializeFileBlocksUpload / UploadBlock / CommitFileBlocksUpload, InitializeFileBlocksDownload / DownloadBlock,
  DeleteFile (file-column-data "Use Dataverse messages to upload/download a file").
- RetrieveVersion (webapi/reference/retrieveversion): the service's version string.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.errors import DvError
from connector.sandbox.files import FILES, FileColumns
from connector.sandbox.records import Records
from connector.sandbox.schema import FILE, IMAGE, Table

VERSION = "9.2.0.0"  # the sandbox's answer to RetrieveVersion (a tenant answers its build, e.g. 9.2.24124.191)


def _bad(message: str) -> DvError:
    return DvError(400, "0x80040203", message)


@dataclass
class _Upload:
    table: str
    rid: str
    column: str
    name: str
    blocks: dict[str, bytes] = field(default_factory=dict)


class Messages:
    def __init__(self, records: Records, files: FileColumns) -> None:
        self.records = records
        self.files = files
        self.uploads: dict[str, _Upload] = {}
        self.downloads: dict[str, bytes] = {}

    # ------------------------------------------------------------------ sales messages
    def qualify_lead(self, lead_id: str, body: dict[str, Any], user: str) -> list[dict[str, Any]]:
        r = self.records
        lead = r.store.get("lead", lead_id)
        if lead is None:
            raise DvError(404, "0x80040217", f"lead With Id = {lead_id} Does Not Exist")
        if lead.get("statecode") != 0:
            raise _bad("The lead is not open, so it cannot be qualified.")
        status = body.get("Status")
        if not isinstance(status, int):
            raise _bad("QualifyLead needs Status (a statuscode of the Qualified state, e.g. 3).")
        created: list[dict[str, Any]] = []
        account_id = contact_id = None
        with r.store.transaction():
            if body.get("CreateAccount"):
                name = lead.get("companyname") or lead.get("fullname")
                account_id, _ = r.create(
                    r.tables["account"],
                    {"name": name, "originatingleadid@odata.bind": f"/leads({lead_id})"},
                    user,
                )
                created.append({"@odata.type": "#Microsoft.Dynamics.CRM.account", "accountid": account_id})
            if body.get("CreateContact"):
                contact = {
                    k: lead[k]
                    for k in ("firstname", "lastname", "emailaddress1", "telephone1", "jobtitle")
                    if lead.get(k)
                }
                contact["originatingleadid@odata.bind"] = f"/leads({lead_id})"
                if account_id:
                    contact["parentcustomerid_account@odata.bind"] = f"/accounts({account_id})"
                contact_id, _ = r.create(r.tables["contact"], contact, user)
                created.append({"@odata.type": "#Microsoft.Dynamics.CRM.contact", "contactid": contact_id})
            if body.get("CreateOpportunity"):
                opp: dict[str, Any] = {
                    "name": lead.get("subject") or lead.get("fullname") or "Opportunity",
                    "originatingleadid@odata.bind": f"/leads({lead_id})",
                }
                if account_id:
                    opp["parentaccountid@odata.bind"] = f"/accounts({account_id})"
                if contact_id:
                    opp["parentcontactid@odata.bind"] = f"/contacts({contact_id})"
                for key in ("OpportunityCurrencyId@odata.bind", "OpportunityCustomerId@odata.bind"):
                    if isinstance(body.get(key), str):
                        target = r.resolve_url(str(body[key]))[0].logical
                        if key.startswith("OpportunityCurrency"):
                            opp["transactioncurrencyid@odata.bind"] = body[key]
                        else:
                            opp[f"customerid_{target}@odata.bind"] = body[key]
                opp_id, _ = r.create(r.tables["opportunity"], opp, user)
                created.append({"@odata.type": "#Microsoft.Dynamics.CRM.opportunity", "opportunityid": opp_id})
            r.update(r.tables["lead"], lead_id, {"statecode": 1, "statuscode": status}, user)
        return created

    def close_opportunity(self, won: bool, body: dict[str, Any], user: str) -> None:
        close = body.get("OpportunityClose")
        status = body.get("Status")
        bind = close.get("opportunityid@odata.bind") if isinstance(close, dict) else None
        if not isinstance(bind, str) or not isinstance(status, int):
            raise _bad('Needs OpportunityClose {"opportunityid@odata.bind": "/opportunities(<id>)", ...} and Status.')
        table, rid = self.records.resolve_url(bind)
        if table.logical != "opportunity":
            raise _bad("OpportunityClose must name an opportunity.")
        opp = self.records.store.get("opportunity", rid) or {}
        if opp.get("statecode") != 0:
            raise _bad("The opportunity is already closed.")
        values: dict[str, Any] = {"statecode": 1 if won else 2, "statuscode": status}
        if isinstance(close, dict) and close.get("actualrevenue") is not None and won:
            values["actualvalue"] = close["actualrevenue"]
        with self.records.store.transaction():
            self.records.update(self.records.tables["opportunity"], rid, values, user)

    def merge(self, body: dict[str, Any], user: str) -> None:
        """Learn "Merge table rows" (webapi/merge-entity-using-web-api): Target and Subordinate of one table (account,
        contact, lead or incident); UpdateContent is written to the target; the subordinate's child rows move to the
        target; the subordinate is deactivated (a case is cancelled as Merged) with merged true and masterid set."""
        r = self.records
        target, subordinate = body.get("Target"), body.get("Subordinate")
        if not isinstance(target, dict) or not isinstance(subordinate, dict):
            raise _bad("Merge needs Target and Subordinate, each with @odata.type and the primary key.")
        logical = str(target.get("@odata.type", "")).lstrip("#").split(".")[-1]
        if logical not in ("account", "contact", "lead", "incident"):
            raise _bad(f"Merge is supported for account, contact, lead and incident, not '{logical}'.")
        if str(subordinate.get("@odata.type", "")).lstrip("#").split(".")[-1] != logical:
            raise _bad("Target and Subordinate must be of the same table.")
        table = r.tables[logical]
        master_id = str(target.get(table.primary_id) or "").lower()
        sub_id = str(subordinate.get(table.primary_id) or "").lower()
        for rid in (master_id, sub_id):
            if r.store.get(logical, rid) is None:
                raise DvError(404, "0x80040217", f"{logical} With Id = {rid} Does Not Exist")
        if master_id == sub_id:
            raise _bad("A record cannot be merged with itself.")
        content = body.get("UpdateContent")
        with r.store.transaction():
            if isinstance(content, dict):
                values = {k: v for k, v in content.items() if not k.startswith("@") and k != table.primary_id}
                if values:
                    r.update(table, master_id, values, user)
            for other in r.tables.values():
                for attr in other.attributes.values():
                    if logical not in attr.targets or attr.logical in ("masterid",):
                        continue
                    col = f"_{attr.logical}_value"
                    for _, child in list(r.store.scan_eq(other.logical, col, sub_id)):
                        if child.get(col) == sub_id and child.get(other.primary_id) != sub_id:
                            child[col] = master_id
                            r.store.replace(other.logical, child[other.primary_id], child, r.key_values(other, child))
            closed = {"statecode": 2, "statuscode": 2000} if logical == "incident" else {"statecode": 1}
            r.update(table, sub_id, closed, user, allow_state=True)
            sub = r.store.get(logical, sub_id) or {}
            sub["merged"] = True
            sub["_masterid_value"] = master_id
            r.store.replace(logical, sub_id, sub, None)

    # ------------------------------------------------------------------ file blocks
    def _target(self, body: dict[str, Any]) -> tuple[Table, str, str]:
        target = body.get("Target")
        column = str(body.get("FileAttributeName") or "")
        if not isinstance(target, dict):
            raise _bad('Needs Target {"@odata.type": "Microsoft.Dynamics.CRM.<table>", "<table>id": "<id>"}.')
        logical = str(target.get("@odata.type", "")).lstrip("#").split(".")[-1]
        table = self.records.tables.get(logical)
        if table is None:
            raise _bad(f"Target names no table ({target.get('@odata.type')}).")
        rid = str(target.get(table.primary_id) or "").lower()
        attr = table.attributes.get(column)
        if attr is None or attr.type not in (FILE, IMAGE):
            raise _bad(f"'{column}' is not a file or image column of {table.logical}.")
        if self.records.store.get(table.logical, rid) is None:
            raise DvError(404, "0x80040217", f"{table.logical} With Id = {rid} Does Not Exist")
        return table, rid, column

    def initialize_upload(self, body: dict[str, Any]) -> dict[str, Any]:
        table, rid, column = self._target(body)
        token = uuid.uuid4().hex
        self.uploads[token] = _Upload(table.logical, rid, column, str(body.get("FileName") or f"{column}.bin"))
        return {"FileContinuationToken": token}

    def upload_block(self, body: dict[str, Any]) -> None:
        upload = self.uploads.get(str(body.get("FileContinuationToken")))
        if upload is None:
            raise _bad("The FileContinuationToken is not valid or has expired.")
        try:
            upload.blocks[str(body.get("BlockId"))] = base64.b64decode(str(body.get("BlockData") or ""), validate=True)
        except ValueError:
            raise _bad("BlockData must be base64.") from None

    def commit_upload(self, body: dict[str, Any]) -> dict[str, Any]:
        token = str(body.get("FileContinuationToken"))
        upload = self.uploads.pop(token, None)
        if upload is None:
            raise _bad("The FileContinuationToken is not valid or has expired.")
        order = body.get("BlockList")
        if not isinstance(order, list) or any(str(b) not in upload.blocks for b in order):
            raise _bad("BlockList must list the BlockId of every uploaded block, in order.")
        data = b"".join(upload.blocks[str(b)] for b in order)
        table = self.records.tables[upload.table]
        self.files._store(table, upload.rid, upload.column, str(body.get("FileName") or upload.name), data)
        rec = self.records.store.get(upload.table, upload.rid) or {}
        return {"FileId": rec.get(upload.column), "FileSizeInBytes": len(data)}

    def initialize_download(self, body: dict[str, Any]) -> dict[str, Any]:
        table, rid, column = self._target(body)
        saved = self.records.store.get(FILES, f"{table.logical}|{rid}|{column}")
        if saved is None:
            raise DvError(404, "0x80060891", f"No file is attached to the column '{column}' of this record.")
        data = base64.b64decode(saved["b64"])
        token = uuid.uuid4().hex
        self.downloads[token] = data
        return {
            "FileContinuationToken": token,
            "FileSizeInBytes": len(data),
            "FileName": saved["name"],
            "IsChunkingSupported": True,
        }

    def download_block(self, body: dict[str, Any]) -> dict[str, Any]:
        data = self.downloads.get(str(body.get("FileContinuationToken")))
        if data is None:
            raise _bad("The FileContinuationToken is not valid or has expired.")
        offset, length = body.get("Offset"), body.get("BlockLength")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 1:
            raise _bad("DownloadBlock needs Offset and BlockLength, whole numbers.")
        return {"Data": base64.b64encode(data[offset : offset + length]).decode()}

    def delete_file(self, body: dict[str, Any]) -> None:
        file_id = str(body.get("FileId") or "").lower()
        for logical, table in self.records.tables.items():
            cols = [a.logical for a in table.attributes.values() if a.type == FILE]
            if not cols:
                continue
            for _, rec in self.records.store.scan(logical):
                for col in cols:
                    if str(rec.get(col) or "").lower() == file_id:
                        self.files._store(table, rec[table.primary_id], col, None, None)
                        return
        raise DvError(404, "0x80040217", f"No file has FileId {file_id}.")
