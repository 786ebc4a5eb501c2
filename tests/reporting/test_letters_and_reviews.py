"""Letters (email activities) and reviews/complaints in reports.

Hand-worked acknowledgement answers on tests/reporting/fixtures/letters_q1_2025.csv (email activities as the CRM
returns them) over the Q1 2025 cases of cases_q1_2025.csv (receipt dates in test_measures.py). Working days from the
day of receipt to the day the first outgoing acknowledgement was sent (the deadlines engine's calendar):
  c01 06 Jan -> 08 Jan  2      c02 06 Jan -> 13 Jan  5      c03 13 Jan -> 21 Jan  6 (late)
  c04 20 Jan -> 20 Jan  0 EIR  c06 03 Feb -> 04 Feb  1 (a second letter on 10 Feb is ignored)
  c10 24 Mar -> 26 Mar  2 (no actualend: modifiedon of the completed email)
  c14 15 Jan -> 16 Jan  1 SAR
Not acknowledged: c05 (draft only; the requester's reply is incoming), c07 (cancelled), c08 (an extension letter),
c09 (an internal review acknowledgement). c16 is outside Q1; a13 is regarding no case.
FOIA: 15 cases, 5 acknowledged (c01 c02 c03 c06 c10), 4 within 5 WD, median of 2,5,6,1,2 = 2, 1 draft.
EIR: 3 cases, 1 acknowledged within 5 (0 days). All FOI and EIR: 18, 6 acknowledged, 5 within (27.8%),
median of 0,1,2,2,5,6 = 2, 1 drafted, 12 not acknowledged. SAR: 1 of 1, 1 day.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from connector.reporting import ReportingStore, build_report, compute_measures, pull_cases
from connector.reporting import categories as C
from connector.reporting.store import letter_kind, normalise_activity, normalise_case
from connector.sync.mapping import load_target_mapping
from connector.sync.provision import provision_schema

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
TODAY = date(2025, 4, 10)


def _letters() -> pd.DataFrame:
    raw = pd.read_csv(FIXTURES / "letters_q1_2025.csv", dtype=str, keep_default_na=False)
    rows = []
    for r in raw.to_dict("records"):
        rec: dict[str, Any] = {k: (v or None) for k, v in r.items()}
        rec["statecode"], rec["statuscode"] = int(r["statecode"]), int(r["statuscode"])
        rec["directioncode"] = r["directioncode"] == "true"
        rows.append(normalise_activity(rec))
    return pd.DataFrame(rows)


def test_acknowledgements_hand_worked(fixture_frame: pd.DataFrame, engine: Any) -> None:
    t = compute_measures(fixture_frame, "2025-Q1", today=TODAY, engine=engine, activities=_letters())
    ack = t["acknowledgements"].set_index("Regime")
    cols = [
        C.TOTAL,
        "Acknowledged",
        "Acknowledged within 5 working days",
        "% acknowledged within 5 working days",
        "Median working days to acknowledge",
        "Acknowledgement drafted, not sent",
        "Not acknowledged",
    ]
    assert list(ack.columns) == cols
    assert ack.loc["FOIA"].tolist() == [15, 5, 4, 26.7, 2.0, 1, 10]
    assert ack.loc["EIR"].tolist() == [3, 1, 1, 33.3, 0.0, 0, 2]
    assert ack.loc["SAR"].tolist() == [1, 1, 1, 100.0, 1.0, 0, 0]
    assert ack.loc["All FOI and EIR"].tolist() == [18, 6, 5, 27.8, 2.0, 1, 12]
    s = dict(zip(t["summary"]["Measure"], t["summary"]["Value"], strict=True))
    assert s["Requests acknowledged within 5 working days (FOI and EIR)"] == 5
    assert s["Median working days to acknowledge (FOI and EIR)"] == 2.0
    # a stricter service standard counts fewer in time
    three = compute_measures(fixture_frame, "2025-Q1", today=TODAY, engine=engine, activities=_letters(), ack_days=1)
    assert (
        three["acknowledgements"].set_index("Regime").loc["All FOI and EIR", "Acknowledged within 1 working days"] == 2
    )
    # without letters the table is simply not there (nothing to count from)
    assert "acknowledgements" not in compute_measures(fixture_frame, "2025-Q1", today=TODAY, engine=engine)


def test_letter_kinds_cover_every_foi_sync_letter_title() -> None:
    from connector.letters.types import TITLES, LetterType

    expected = {
        LetterType.ACKNOWLEDGEMENT: "acknowledgement",
        LetterType.INTERNAL_REVIEW_ACK: "review_acknowledgement",
        LetterType.CLARIFICATION: "clarification",
        LetterType.FEES: "fees",
        LetterType.PIT_EXTENSION: "extension",
        LetterType.EIR_EXTENSION: "extension",
        LetterType.SAR_EXTENSION: "extension",
        LetterType.NOT_HELD: "not_held",
        LetterType.TRANSFER: "transfer",
        LetterType.ADVICE_AND_ASSISTANCE: "advice_and_assistance",
        LetterType.ROUTING_REPLY: "routing",
        LetterType.REFUSAL: "refusal",
        LetterType.COST_LIMIT: "refusal",
        LetterType.VEXATIOUS: "refusal",
        LetterType.REPEATED: "refusal",
        LetterType.NCND: "refusal",
        LetterType.SAR_RESPONSE: "response",
        LetterType.SAR_REFUSAL: "refusal",
        LetterType.REVIEW_OUTCOME: "review_outcome",
    }
    for letter, title in TITLES.items():
        assert letter_kind(f"{title} - FOI ref FOI/2025/0001") == expected[letter], title
    assert letter_kind("Re: about my neighbour's planning application") == "other"


def test_pulled_review_complaint_and_extension_fields_fill_the_store_columns() -> None:
    mapping = load_target_mapping(REPO / "mappings" / "target-incident.toml")
    f = mapping.fields
    row = {
        "incidentid": "a1",
        "foi_reference": "FOI-2025-0100",
        "foi_regime": f["regime"].choices["foia"],
        "foi_receivedon": "2025-01-06T09:00:00Z",
        "foi_reviewrequestedon": "2025-01-27",
        "foi_reviewcompletedon": "2025-02-24",
        "foi_reviewoutcome": f["review_outcome"].choices["upheld"],
        "foi_complaintlodgedon": "2025-03-03",
        "foi_complaintoutcome": f["complaint_outcome"].choices["overturned"],
        "foi_extension": f["extension"].choices["pit"],
        "foi_extendeduntil": "2025-03-03",
        "foi_clarificationrequestedon": "2025-01-07",
        "foi_clarificationreceivedon": "2025-01-09",
        "foi_feenoticeon": None,
        "foi_feepaidon": None,
    }
    store_row = normalise_case(mapping.from_crm(row), crm_id="a1")
    assert (store_row["review_requested_date"], store_row["review_completed_date"]) == ("2025-01-27", "2025-02-24")
    assert (store_row["review_outcome"], store_row["complaint_outcome"]) == ("upheld", "overturned")
    assert store_row["complaint_date"] == "2025-03-03"
    assert (store_row["extension"], store_row["extended_due_date"]) == ("pit", "2025-03-03")  # the date told
    assert store_row["clarification_received_date"] == "2025-01-09" and store_row["fee_notice_date"] is None


class Crm:
    """A CRM user's view of the sandbox: plain Web API calls."""

    def __init__(self, sandbox: Any) -> None:
        self.api = sandbox.api_url
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {sandbox.issue_token()}", "Accept": "application/json"})

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        r = self.session.post(self.api + entity_set, json=body, timeout=30)
        assert r.status_code == 204, r.text
        return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    def update(self, entity_set: str, rid: str, body: dict[str, Any]) -> None:
        r = self.session.patch(f"{self.api}{entity_set}({rid})", json=body, timeout=30)
        assert r.status_code == 204, r.text

    def post(self, path: str, body: dict[str, Any]) -> None:
        r = self.session.post(self.api + path, json=body, timeout=30)
        assert r.status_code in (200, 204), r.text

    def delete(self, entity_set: str, rid: str) -> None:
        assert self.session.delete(f"{self.api}{entity_set}({rid})", timeout=30).status_code == 204


@pytest.fixture
def mapping(dv_client: Any) -> Any:
    m = load_target_mapping(REPO / "mappings" / "target-incident.toml")
    provision_schema(dv_client, m)
    return m


def test_officer_records_review_and_complaint_in_the_crm_and_the_report_counts_them(
    sandbox: Any, sandbox_settings: Any, dv_client: Any, mapping: Any, tmp_path: Path
) -> None:
    crm = Crm(sandbox)
    f = mapping.fields
    contact = crm.create("contacts", {"lastname": "Doe", "firstname": "Jane", "emailaddress1": "jane@example.org"})
    common = {
        "customerid_contact@odata.bind": f"/contacts({contact})",
        "foi_regime": f["regime"].choices["foia"],
        "foi_receivedon": "2025-01-06T09:00:00Z",
        "foi_duedate": "2025-02-03",
    }
    reviewed = crm.create(
        "incidents",
        {
            **common,
            "title": "FOI/2025/0100",
            "foi_reference": "FOI-2025-0100",
            "foi_stage": f["stage"].choices["internal_review"],
            "foi_outcome": f["outcome"].choices["withheld_in_full"],
            "foi_respondedon": "2025-01-20T15:00:00Z",
            "foi_reviewrequestedon": "2025-01-27",
        },
    )
    extended = crm.create(
        "incidents",
        {
            **common,
            "title": "FOI/2025/0101",
            "foi_reference": "FOI-2025-0101",
            "foi_stage": f["stage"].choices["extended"],
            "foi_extension": f["extension"].choices["pit"],
            "foi_extendeduntil": "2025-03-03",
        },
    )
    # Letters: an acknowledgement sent for the first case, one left as a draft for the second, and an officer's own
    # email whose subject and body name the requester (neither may reach the store).
    parties = [{"partyid_contact@odata.bind": f"/contacts({contact})", "participationtypemask": 2}]
    ack = crm.create(
        "emails",
        {
            "subject": "Acknowledgement of your request - FOI ref FOI/2025/0100",
            "description": "<p>Dear Jane Doe</p>",
            "directioncode": True,
            "regardingobjectid_incident_email@odata.bind": f"/incidents({reviewed})",
            "email_activity_parties": parties,
        },
    )
    crm.post(f"emails({ack})/Microsoft.Dynamics.CRM.SendEmail", {"IssueSend": True})
    crm.create(
        "emails",
        {
            "subject": "Acknowledgement of your request - FOI ref FOI/2025/0101",
            "directioncode": True,
            "regardingobjectid_incident_email@odata.bind": f"/incidents({extended})",
        },
    )
    own = crm.create(
        "emails",
        {
            "subject": "Re: Jane Doe's request about her council tax",
            "description": "Private note about Jane Doe at 1 Acacia Avenue",
            "directioncode": True,
            "regardingobjectid_incident_email@odata.bind": f"/incidents({reviewed})",
        },
    )
    crm.create("emails", {"subject": "Acknowledgement of your request - unrelated", "directioncode": True})

    store_path = tmp_path / "reporting.sqlite"
    with ReportingStore(store_path) as store:
        first = pull_cases(dv_client, sandbox_settings, mapping, store)
        assert first.upserted == 2 and first.activities == 3 and first.activities_skipped is None
        assert store.activity_count() == 3  # the email regarding nothing is not a case letter
        row = store.get(extended)
        assert (row["extension"], row["extended_due_date"]) == ("pit", "2025-03-03")
        raw = store_path.read_bytes()
        assert b"Jane" not in raw and b"Acacia" not in raw and b"jane@example.org" not in raw
        # The officer records the review outcome, its completion, and the complaint to the ICO and its outcome.
        crm.update(
            "incidents",
            reviewed,
            {
                "foi_reviewoutcome": f["review_outcome"].choices["upheld"],
                "foi_reviewcompletedon": "2025-02-24",
                "foi_complaintlodgedon": "2025-03-03",
                "foi_complaintoutcome": f["complaint_outcome"].choices["overturned"],
                "foi_stage": f["stage"].choices["ico_complaint"],
            },
        )
        crm.delete("emails", own)
        delta = pull_cases(dv_client, sandbox_settings, mapping, store)
        assert (delta.upserted, delta.activities, delta.activities_deleted) == (1, 0, 1)
        assert store.activity_count() == 2
        assert store.get(reviewed)["review_outcome"] == "upheld"
        # `foi-sync pull --full` forgets the case token and clears the store: the letters come back in full too
        store.save_delta_link(mapping.entity_set, None)
        store.clear()
        full = pull_cases(dv_client, sandbox_settings, mapping, store)
        assert (full.upserted, full.activities, full.activities_full_resync) == (2, 2, True)

    settings = sandbox_settings.model_copy(deep=True)
    settings.report.store_path = store_path
    tables, _period, count = build_report(settings, "2025-Q1", today=TODAY)
    assert count == 2
    ir = tables["internal_reviews"].set_index("Regime").loc["All FOI and EIR"]
    assert (ir[C.IR_TOTAL], ir[C.IR_KNOWN], ir[C.IR_UPHELD]) == (1, 1, 1)
    ico = tables["ico_complaints"].set_index("Regime").loc["All FOI and EIR"]
    assert (ico[C.ICO_TOTAL], ico[C.ICO_OVERTURNED]) == (1, 1)
    durations = tables["internal_review_durations"].set_index("Working days")
    assert durations.loc["11 to 20", "Internal reviews completed"] == 1  # 27 Jan -> 24 Feb: 20 working days
    ack_row = tables["acknowledgements"].set_index("Regime").loc["All FOI and EIR"]
    # the letter was sent today (the sandbox's clock), long after receipt in January: acknowledged, not in time
    assert (ack_row["Acknowledged"], ack_row["Acknowledged within 5 working days"]) == (1, 0)
    assert ack_row["Acknowledgement drafted, not sent"] == 1
