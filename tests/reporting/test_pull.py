"""Pull against the real sandbox over HTTP: full load, delta, delete, expired token -> full resync, then a report.

Incidents are created, edited and deleted directly over HTTP (as a CRM user would), not through foi-sync.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.reporting import ReportingStore, build_report, pull_cases
from connector.sync.mapping import load_target_mapping
from connector.sync.provision import provision_schema

REPO = Path(__file__).resolve().parents[2]
FOIA, EIR = 100000000, 100000001
IN_PROGRESS, CLOSED = 100000005, 100000008
GRANTED = 100000000


class Crm:
    """A CRM user's view of the sandbox: plain Web API calls."""

    def __init__(self, sandbox: Any) -> None:
        self.api = sandbox.api_url
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {sandbox.issue_token()}",
                "Accept": "application/json",
                "Content-Type": "application/json",
            }
        )

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        r = self.session.post(self.api + entity_set, json=body, timeout=30)
        assert r.status_code == 204, r.text
        return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    def update(self, entity_set: str, rid: str, body: dict[str, Any]) -> None:
        r = self.session.patch(f"{self.api}{entity_set}({rid})", json=body, timeout=30)
        assert r.status_code == 204, r.text

    def delete(self, entity_set: str, rid: str) -> None:
        r = self.session.delete(f"{self.api}{entity_set}({rid})", timeout=30)
        assert r.status_code == 204, r.text


@pytest.fixture
def mapping(dv_client: Any) -> Any:
    m = load_target_mapping(REPO / "mappings" / "target-incident.toml")
    provision_schema(dv_client, m)
    return m


def test_pull_full_delta_delete_and_expired_token(
    sandbox: Any,
    sandbox_settings: Any,
    dv_client: Any,
    mapping: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crm = Crm(sandbox)
    contact = crm.create("contacts", {"lastname": "Example", "emailaddress1": "requester@example.org"})
    team = crm.create("teams", {"name": "Highways Team"})
    ids = []
    for i in range(6):
        ids.append(
            crm.create(
                "incidents",
                {
                    "title": f"FOI/2025/{i:04d} roads",
                    "customerid_contact@odata.bind": f"/contacts({contact})",
                    **({"ownerid@odata.bind": f"/teams({team})"} if i < 5 else {}),  # i=5: owned by a user
                    "foi_reference": f"FOI-2025-{i:04d}",
                    "foi_sourcereference": f"FOI/2025/{i:04d}",
                    "foi_regime": EIR if i == 4 else FOIA,
                    "foi_stage": IN_PROGRESS,
                    "foi_receivedon": "2025-01-06T09:00:00Z",
                    "foi_duedate": "2025-02-03",
                    "foi_exemptions": "s40(2), s43" if i == 0 else None,
                    "foi_servicearea": "Highways",
                    "foi_requesttext": "personal request text that must never reach the store",
                },
            )
        )
    store_path = tmp_path / "reporting.sqlite"
    with ReportingStore(store_path) as store:
        # 1. first pull: everything, two rows per page, the link saved after every page
        heard: list[tuple[str, int]] = []
        first = pull_cases(
            dv_client, sandbox_settings, mapping, store, page_size=2, on_progress=lambda s, n: heard.append((s, n))
        )
        assert heard == [("incidents", n) for n in range(1, 7)]  # the six cases made above, one event each
        assert first.full_resync and not first.token_expired
        assert first.upserted == 6 and first.pages == 3 and first.ok
        assert "$deltatoken" in (store.delta_link("incidents") or "")
        row = store.get(ids[0])
        assert row["reference"] == "FOI/2025/0000" and row["regime"] == "foia" and row["stage"] == "in_progress"
        assert row["received_date"] == "2025-01-06" and row["due_date"] == "2025-02-03"
        assert row["exemptions"] == "s40(2);s43"
        assert row["assigned_team"] == "Highways Team"  # owner lookup id resolved to the team's name
        assert store.get(ids[5])["assigned_team"] is None  # a user-owned case is "Unassigned", not a GUID
        assert "personal request text" not in store_path.read_bytes().decode("utf-8", "replace")

        # 2. an officer closes one case in the CRM: the next pull brings only that change, and the CRM wins
        crm.update(
            "incidents",
            ids[1],
            {"foi_stage": CLOSED, "foi_outcome": GRANTED, "foi_respondedon": "2025-01-20T15:00:00Z"},
        )
        delta = pull_cases(dv_client, sandbox_settings, mapping, store)
        assert not delta.full_resync and delta.upserted == 1 and delta.deleted == 0
        closed = store.get(ids[1])
        assert (closed["stage"], closed["outcome"], closed["responded_date"]) == (
            "closed",
            "granted_in_full",
            "2025-01-20",
        )

        # 3. a case deleted in the CRM disappears from the mirror
        crm.delete("incidents", ids[2])
        gone = pull_cases(dv_client, sandbox_settings, mapping, store)
        assert gone.deleted == 1 and store.get(ids[2]) is None and store.count() == 5

        # 4. nothing changed: an empty delta
        quiet = pull_cases(dv_client, sandbox_settings, mapping, store)
        assert (quiet.upserted, quiet.deleted) == (0, 0)

        # 5. the change token expires: the mirror is cleared and rebuilt from the CRM, and it is logged
        sandbox.expire_change_tokens()
        crm.update("incidents", ids[3], {"foi_stage": CLOSED, "foi_respondedon": "2025-02-10T10:00:00Z"})
        # configure_logging (run by any earlier CLI test) stops "connector" propagating to the root logger
        monkeypatch.setattr(logging.getLogger("connector"), "propagate", True)
        with caplog.at_level(logging.WARNING, logger="connector.reporting.pull"):
            resync = pull_cases(dv_client, sandbox_settings, mapping, store)
        assert resync.token_expired and resync.full_resync
        assert resync.upserted == 5 and store.count() == 5
        assert store.get(ids[3])["responded_date"] == "2025-02-10"
        assert any("expired" in r.getMessage() for r in caplog.records)
        # after the resync, deltas work again
        crm.update("incidents", ids[4], {"foi_stage": CLOSED})
        after = pull_cases(dv_client, sandbox_settings, mapping, store)
        assert not after.token_expired and after.upserted == 1

    # 6. the report counts what the CRM holds
    settings = sandbox_settings.model_copy(deep=True)
    settings.report.store_path = store_path
    tables, _period, count = build_report(settings, "2025-Q1", today=date(2025, 4, 10))
    assert count == 5
    t = tables["timeliness_by_regime"].set_index("Regime")
    # ids[1] met (20 Jan); late: ids[3] (responded 10 Feb), ids[0] and ids[5] (open, overdue); ids[4] is EIR
    assert t.loc["FOIA", "20-day deadline met"] == 1
    assert t.loc["FOIA", "Late response (i.e. 20-day deadline missed)"] == 3
    assert tables["overdue"]["Reference"].tolist() == ["FOI/2025/0000", "FOI/2025/0005"]
    assert tables["open_caseload"]["Team"].tolist() == ["Highways Team", "Unassigned", "All teams"]


def test_a_mapping_refusal_is_recorded_by_code_and_field_never_by_value() -> None:
    """The sync layer's MappingValueError keeps the shape the pull reads through its Protocol (the reporting layer may
    not import the sync layer), so renaming its ``code`` or ``field`` fails here rather than blanking the reason."""
    from connector.reporting.pull import CodedValueError, reject_reason
    from connector.sync.mapping import MappingValueError

    refused = MappingValueError("choice_unmapped", "stage", "stage: CRM value 100000042 has no case value")
    assert isinstance(refused, CodedValueError)
    assert reject_reason(refused) == "choice_unmapped in stage"
    assert reject_reason(KeyError("foi_reference")) == "KeyError"  # a message could quote a value: type only
