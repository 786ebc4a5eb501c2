"""Documented messages beyond CRUD: lead qualification, closing opportunities, file blocks, version, system jobs.

Sources (learn.microsoft.com/power-apps/developer/data-platform/...): QL webapi/reference/qualifylead (bound to lead;
CreateAccount/CreateContact/CreateOpportunity, Status; returns the created records); WIN/LOSE
webapi/reference/winopportunity, loseopportunity (OpportunityClose + Status); FILE file-column-data "Use Dataverse
messages to upload a file / download a file" (InitializeFileBlocksUpload, UploadBlock, CommitFileBlocksUpload,
InitializeFileBlocksDownload, DownloadBlock, DeleteFile, with the documented request bodies); VER
webapi/reference/retrieveversion; BULK bulk-delete (JobId names the asyncoperation); META webapi/web-api-service-
documents ($metadata declares the operations). Expected values are worked out by hand.
"""

from __future__ import annotations

import base64

from csdl_parser import parse
from sandbox_support import Api, error_of


def test_qualify_lead_creates_account_contact_opportunity(api: Api) -> None:
    """QL: the created records come back as a collection; the lead becomes Qualified with the given Status."""
    lead = api.create(
        "leads",
        {
            "subject": "FOI portal",
            "firstname": "Monte",
            "lastname": "Orton",
            "companyname": "Orton Ltd",
            "emailaddress1": "mo@example.com",
        },
    )
    r = api.post(
        f"leads({lead})/Microsoft.Dynamics.CRM.QualifyLead",
        json={"CreateAccount": True, "CreateContact": True, "CreateOpportunity": True, "Status": 3},
    )
    assert r.status_code == 200, r.text
    kinds = {item["@odata.type"]: item for item in r.json()["value"]}
    assert set(kinds) == {
        "#Microsoft.Dynamics.CRM.account",
        "#Microsoft.Dynamics.CRM.contact",
        "#Microsoft.Dynamics.CRM.opportunity",
    }
    acc = api.get(
        f"accounts({kinds['#Microsoft.Dynamics.CRM.account']['accountid']})?$select=name,_originatingleadid_value"
    ).json()
    assert acc["name"] == "Orton Ltd" and acc["_originatingleadid_value"] == lead
    con = api.get(
        f"contacts({kinds['#Microsoft.Dynamics.CRM.contact']['contactid']})?$select=fullname,emailaddress1,_parentcustomerid_value"
    ).json()
    assert (con["fullname"], con["emailaddress1"], con["_parentcustomerid_value"]) == (
        "Monte Orton",
        "mo@example.com",
        acc["accountid"],
    )
    opp = api.get(
        f"opportunities({kinds['#Microsoft.Dynamics.CRM.opportunity']['opportunityid']})?$select=name,_parentaccountid_value"
    ).json()
    assert opp["name"] == "FOI portal" and opp["_parentaccountid_value"] == acc["accountid"]
    state = api.get(f"leads({lead})?$select=statecode,statuscode").json()
    assert (state["statecode"], state["statuscode"]) == (1, 3)
    again = api.post(f"leads({lead})/Microsoft.Dynamics.CRM.QualifyLead", json={"CreateAccount": False, "Status": 3})
    assert again.status_code == 400


def test_win_and_lose_opportunity(api: Api) -> None:
    """WIN/LOSE: Won is statecode 1 with the Status (3 Won); Lost is statecode 2 (4 Canceled, 5 Out-Sold)."""
    won = api.create("opportunities", {"name": "Won deal"})
    lost = api.create("opportunities", {"name": "Lost deal"})
    r = api.post(
        "WinOpportunity",
        json={
            "Status": 3,
            "OpportunityClose": {
                "subject": "Won",
                "opportunityid@odata.bind": f"/opportunities({won})",
                "actualrevenue": 500,
            },
        },
    )
    assert r.status_code == 204, r.text
    row = api.get(f"opportunities({won})?$select=statecode,statuscode,actualvalue").json()
    assert (row["statecode"], row["statuscode"], row["actualvalue"]) == (1, 3, 500)
    assert (
        api.post(
            "LoseOpportunity",
            json={
                "Status": 5,
                "OpportunityClose": {"subject": "Lost", "opportunityid@odata.bind": f"/opportunities({lost})"},
            },
        ).status_code
        == 204
    )
    row = api.get(f"opportunities({lost})?$select=statecode,statuscode").json()
    assert (row["statecode"], row["statuscode"]) == (2, 5)
    bad = api.post(
        "LoseOpportunity",
        json={"Status": 3, "OpportunityClose": {"opportunityid@odata.bind": f"/opportunities({won})"}},
    )
    assert bad.status_code == 400  # already closed


def test_file_blocks_upload_download_and_delete(api: Api) -> None:
    """FILE: the documented message sequence, blocks joined in BlockList order."""
    col = api.post(
        "EntityDefinitions(LogicalName='account')/Attributes",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.FileAttributeMetadata",
            "SchemaName": "sample_FileColumn",
            "MaxSizeInKB": 10240,
            "DisplayName": {"LocalizedLabels": [{"Label": "File", "LanguageCode": 1033}]},
        },
    )
    assert col.status_code == 204, col.text
    acc = api.create("accounts", {"name": "Blocks"})
    target = {"accountid": acc, "@odata.type": "Microsoft.Dynamics.CRM.account"}
    init = api.post(
        "InitializeFileBlocksUpload",
        json={"Target": target, "FileAttributeName": "sample_filecolumn", "FileName": "25mb.pdf"},
    )
    assert init.status_code == 200, init.text
    token = init.json()["FileContinuationToken"]
    parts = [b"first part-", b"second part-", b"third"]
    ids = [base64.b64encode(f"block{i}".encode()).decode() for i in range(3)]
    for bid, data in reversed(list(zip(ids, parts, strict=True))):  # sent in any order; BlockList decides
        r = api.post(
            "UploadBlock",
            json={"BlockId": bid, "BlockData": base64.b64encode(data).decode(), "FileContinuationToken": token},
        )
        assert r.status_code == 204, r.text
    commit = api.post(
        "CommitFileBlocksUpload",
        json={"FileName": "25mb.pdf", "MimeType": "application/pdf", "BlockList": ids, "FileContinuationToken": token},
    )
    assert commit.status_code == 200, commit.text
    whole = b"".join(parts)
    assert commit.json()["FileSizeInBytes"] == len(whole)
    file_id = commit.json()["FileId"]
    assert api.get(f"accounts({acc})/sample_filecolumn/$value").content == whole
    down = api.post(
        "InitializeFileBlocksDownload", json={"Target": target, "FileAttributeName": "sample_filecolumn"}
    ).json()
    assert (down["FileSizeInBytes"], down["FileName"], down["IsChunkingSupported"]) == (len(whole), "25mb.pdf", True)
    got = b""
    for offset in range(0, len(whole), 10):
        block = api.post(
            "DownloadBlock",
            json={"Offset": offset, "BlockLength": 10, "FileContinuationToken": down["FileContinuationToken"]},
        )
        got += base64.b64decode(block.json()["Data"])
    assert got == whole
    assert api.post("DeleteFile", json={"FileId": file_id}).status_code == 204
    assert api.get(f"accounts({acc})/sample_filecolumn/$value").status_code == 404
    stale = api.post("UploadBlock", json={"BlockId": ids[0], "BlockData": "", "FileContinuationToken": token})
    assert stale.status_code == 400 and "FileContinuationToken" in error_of(stale)[1]


def test_retrieve_version_and_bulk_delete_job(api: Api) -> None:
    """VER: RetrieveVersion answers Version; BULK: the JobId is the asyncoperation that did the work."""
    v = api.get("RetrieveVersion()").json()
    assert v["Version"].startswith("9.2.")
    api.create("tasks", {"subject": "gone soon"})
    body = {
        "QuerySet": [
            {
                "EntityName": "task",
                "Criteria": {
                    "FilterOperator": "And",
                    "Conditions": [
                        {
                            "AttributeName": "subject",
                            "Operator": "Equal",
                            "Values": [{"Type": "System.String", "Value": "gone soon"}],
                        }
                    ],
                },
            }
        ],
        "JobName": "Bulk Delete example",
        "SendEmailNotification": False,
        "RecurrencePattern": "",
        "StartDateTime": "2026-01-01T00:00:00Z",
        "ToRecipients": [],
        "CCRecipients": [],
    }
    job = api.post("BulkDelete", json=body).json()["JobId"]
    row = api.get(f"asyncoperations({job})?$select=statecode,statuscode,operationtype").json()
    assert (row["statecode"], row["statuscode"], row["operationtype"]) == (3, 30, 13)


def test_metadata_declares_the_operations(api: Api) -> None:
    """META: each message the sandbox answers is declared, with parameters and return types that resolve."""
    model = parse(api.get("$metadata").content)
    model.check()
    ns = "Microsoft.Dynamics.CRM"
    for name in (
        "InsertOptionValue",
        "PublishDuplicateRule",
        "UnpublishDuplicateRule",
        "RetrievePrincipalAccess",
        "RetrieveVersion",
        "QualifyLead",
        "Merge",
        "WinOpportunity",
        "LoseOpportunity",
        "InitializeFileBlocksUpload",
        "UploadBlock",
        "CommitFileBlocksUpload",
        "InitializeFileBlocksDownload",
        "DownloadBlock",
        "DeleteFile",
    ):
        assert f"{ns}.{name}" in model.operations, name
    bound = {o.bound for o in model.operations[f"{ns}.QualifyLead"]}
    assert bound == {True}


def test_merge_moves_children_and_deactivates_the_subordinate(api: Api) -> None:
    """MERGE webapi/merge-entity-using-web-api: the documented request; UpdateContent reaches the target, the
    subordinate's contacts and tasks move to it, and the subordinate is deactivated with merged/masterid."""
    master = api.create("accounts", {"name": "Fourth Coffee"})
    sub = api.create("accounts", {"name": "Fourth Coffee (dup)", "address1_line1": "123 Main St."})
    con = api.create("contacts", {"lastname": "Staff", "parentcustomerid_account@odata.bind": f"/accounts({sub})"})
    task = api.create("tasks", {"subject": "Call", "regardingobjectid_account_task@odata.bind": f"/accounts({sub})"})
    r = api.post(
        "Merge",
        json={
            "Target": {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": master},
            "Subordinate": {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": sub},
            "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.account", "address1_line1": "123 Main St."},
            "PerformParentingChecks": False,
        },
    )
    assert r.status_code == 204, r.text
    assert api.get(f"accounts({master})?$select=address1_line1").json()["address1_line1"] == "123 Main St."
    assert api.get(f"contacts({con})?$select=_parentcustomerid_value").json()["_parentcustomerid_value"] == master
    assert api.get(f"tasks({task})?$select=_regardingobjectid_value").json()["_regardingobjectid_value"] == master
    gone = api.get(f"accounts({sub})?$select=statecode,merged,_masterid_value").json()
    assert (gone["statecode"], gone["merged"], gone["_masterid_value"]) == (1, True, master)
    wrong = api.post(
        "Merge",
        json={
            "Target": {"@odata.type": "Microsoft.Dynamics.CRM.task", "activityid": task},
            "Subordinate": {"@odata.type": "Microsoft.Dynamics.CRM.task", "activityid": task},
        },
    )
    assert wrong.status_code == 400
