"""Reasons in the CRM, over real HTTP to the sandbox with the shipped incident mapping: a repeat request is linked to
the earlier case by the ``related_case`` lookup (bound by its alternate key), its related requests and the grade's
explanation are readable text on the record, and a second run of the same inputs writes nothing.

The register is hand-made: FOI/2026/0301 (answered, 20 days ago) and FOI/2026/0302 (2 days ago) come from the same
requester with the same words, so 0302 is a s.14(2) repeat of 0301 (same requester, identical text, within the
60-day window of ``intake.repeat_window_days``).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector import odata
from connector.config import IntakeSource
from connector.paths import MAPPINGS_DIR
from connector.sync.engine import run_sync

HEADER = (
    "Ref No,Date Received,Time Received,Request Type,Received Via,Requester Name,Email,Address,Town,Postcode,"
    "Organisation,Requester Type,Subject,Request Details,Department,Status,Date Responded,Outcome,"
    "Exemptions Applied,Officer"
)
NAME, EMAIL = "Tamsin Verrallbrook", "tamsin.v@example.org"
TEXT = "Please send the inspection reports for the Mill Lane footbridge for 2023 and 2024, and the repair costs."


def _day(days_ago: int) -> str:
    return (date.today() - timedelta(days=days_ago)).strftime("%d/%m/%Y")


def _row(ref: str, days_ago: int, status: str, responded: str = "", outcome: str = "") -> str:
    return (
        f"{ref},{_day(days_ago)},10:15,Freedom of Information,Email,{NAME},{EMAIL},,,,,Member of public,"
        f'Footbridge inspections,"{TEXT}",Highways,{status},{responded},{outcome},,'
    )


def write_register(path: Path, rows: list[str]) -> None:
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture
def settings(sync_settings: Any, tmp_path: Path) -> Any:
    sync_settings.intake.sources = [
        IntakeSource(
            name="register",
            kind="csv",
            path=str(tmp_path / "register.csv"),
            mapping=MAPPINGS_DIR / "source-sample-register.toml",
        )
    ]
    sync_settings.intake.rules = MAPPINGS_DIR / "routing-rules.toml"
    sync_settings.intake.triage_rules = MAPPINGS_DIR / "triage-rules.toml"
    return sync_settings


def crm_case(client: Any, key: str, select: list[str]) -> dict[str, Any]:
    rows = list(client.query("incidents", select=["incidentid", *select], filter=odata.eq("foi_reference", key)))
    assert len(rows) == 1, rows
    return rows[0]


def test_repeat_is_linked_and_explained_on_the_crm_record(settings: Any, provisioned: Any) -> None:
    register = Path(settings.intake.sources[0].path)
    write_register(
        register,
        [
            _row("FOI/2026/0301", 20, "Closed", _day(5), "Full disclosure"),
            _row("FOI/2026/0302", 2, "Open"),
        ],
    )
    first = run_sync(settings, client=provisioned)
    assert first.exit_code == 0, first.errors
    assert first.counts["created"] == 2

    earlier = crm_case(provisioned, "FOI-2026-0301", [])
    later = crm_case(
        provisioned,
        "FOI-2026-0302",
        ["_foi_relatedcaseid_value", "foi_relatedrequests", "foi_gradeexplanation", "foi_prioritygrade"],
    )
    # The lookup an officer clicks in Dynamics points at the earlier case's record.
    assert later["_foi_relatedcaseid_value"] == earlier["incidentid"]
    assert later["foi_relatedrequests"].startswith("FOI/2026/0301: repeat of")
    assert "s.14(2)" in later["foi_relatedrequests"]
    # The grade and why, as readable text: the grade's label, its score and the repeat among the reasons.
    explanation = later["foi_gradeexplanation"]
    assert explanation and "FOI/2026/0301" in explanation and "(" in explanation.split(":")[0]
    assert NAME not in explanation and EMAIL not in explanation
    first_answered = crm_case(provisioned, "FOI-2026-0301", ["_foi_relatedcaseid_value", "foi_gradeexplanation"])
    assert first_answered["_foi_relatedcaseid_value"] is None  # closed cases are history, not cross-checked
    assert first_answered["foi_gradeexplanation"].startswith("closed")

    second = run_sync(settings, client=provisioned)
    assert second.exit_code == 0, second.errors
    assert second.counts.get("planned_skip") == 2, second.plan
    assert second.write_requests == 0
