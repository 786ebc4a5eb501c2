"""Officer assignment over real HTTP: open workload from the CRM balanced, an officer on leave skipped, per-officer
reports. The officers are Dynamics users created through the Web API.

Hand-worked: the Licensing team lists Ada Byron, Ben Carter and Cleo Dunn, in that order. After the first sync the
CRM holds three open Licensing cases the register gave to officers: Ada 2, Cleo 1. Ben is on leave today. Four new
requests then arrive, none naming an officer; each goes to the present officer with the fewest open cases, ties to
the one listed first:

    new 1: Ada 2, Cleo 1          -> Cleo (now 2)
    new 2: Ada 2, Cleo 2 (tie)    -> Ada  (now 3)
    new 3: Ada 3, Cleo 2          -> Cleo (now 3)
    new 4: Ada 3, Cleo 3 (tie)    -> Ada  (now 4)

Ben, with no cases at all, gets none while on leave.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connector import odata
from connector.config import IntakeSource
from connector.paths import MAPPINGS_DIR
from connector.sync.job import run_sync

HEADER = (
    "Ref No,Date Received,Time Received,Request Type,Received Via,Requester Name,Email,Address,Town,Postcode,"
    "Organisation,Requester Type,Subject,Request Details,Department,Status,Date Responded,Outcome,"
    "Exemptions Applied,Officer"
)
TODAY = datetime.now(ZoneInfo("Europe/London")).date()
OFFICERS = [("Ada", "Byron"), ("Ben", "Carter"), ("Cleo", "Dunn")]


def _row(ref: str, officer: str = "") -> str:
    received = (TODAY - timedelta(days=1)).strftime("%d/%m/%Y")
    text = f"How many taxi and private hire licences were issued in 2024 ({ref})?"
    return (
        f"{ref},{received},09:00,Freedom of Information,Email,Sam Requester,sam@example.org,,,,,Member of public,"
        f'Taxi licences,"{text}",,Open,,,,{officer}'
    )


def _calendars(path: Path, today: date) -> Path:
    path.write_text(
        '[[team]]\nname = "Licensing"\nsize = 3\n'
        '[[team.officer]]\nname = "Ada Byron"\n'
        '[[team.officer]]\nname = "Ben Carter"\n'
        f"[[team.officer.leave]]\nstart = {today - timedelta(days=1)}\nend = {today + timedelta(days=3)}\n"
        '[[team.officer]]\nname = "Cleo Dunn"\n',
        encoding="utf-8",
    )
    return path


def test_new_cases_go_to_the_least_loaded_officer_present_and_reports_show_each_officer(
    sync_settings: Any, provisioned: Any, tmp_path: Path
) -> None:
    users = {
        f"{first} {last}": provisioned.create(
            "systemusers", {"firstname": first, "lastname": last, "domainname": f"{first.lower()}@council.example"}
        )
        for first, last in OFFICERS
    }
    provisioned.create("teams", {"name": "Licensing", "teamtype": 0})  # the team that owns the cases
    register = tmp_path / "register.csv"
    old = [_row("LIC/1", "Ada Byron"), _row("LIC/2", "Ada Byron"), _row("LIC/3", "Cleo Dunn")]
    register.write_text("\n".join([HEADER, *old]) + "\n", encoding="utf-8")
    s = sync_settings
    s.intake.sources = [
        IntakeSource(
            name="register", kind="csv", path=str(register), mapping=MAPPINGS_DIR / "source-sample-register.toml"
        )
    ]
    s.intake.rules = MAPPINGS_DIR / "routing-rules.toml"
    s.intake.triage_rules = MAPPINGS_DIR / "triage-rules.toml"
    s.intake.team_calendars = _calendars(tmp_path / "team-calendars.toml", TODAY)
    s.sync.assign_officers = True

    first = run_sync(s, client=provisioned)
    assert first.exit_code == 0, first.errors
    assert first.counts.get("officers_assigned", 0) == 0  # the register named each officer

    new = [_row(f"LIC/{i}") for i in range(4, 8)]
    register.write_text("\n".join([HEADER, *old, *new]) + "\n", encoding="utf-8")
    second = run_sync(s, client=provisioned)
    assert second.exit_code == 0, second.errors
    assert second.counts["officers_assigned"] == 4

    def officer_of(ref: str) -> str | None:
        rows = provisioned.query(
            "incidents",
            select=["_foi_assignedofficer_value"],
            filter=odata.eq("foi_reference", odata.key_safe(ref)),
        )
        return next(iter(rows))["_foi_assignedofficer_value"]

    by_id = {v: k for k, v in users.items()}
    got = {ref: by_id.get(officer_of(ref)) for ref in ("LIC/4", "LIC/5", "LIC/6", "LIC/7")}
    assert got == {"LIC/4": "Cleo Dunn", "LIC/5": "Ada Byron", "LIC/6": "Cleo Dunn", "LIC/7": "Ada Byron"}
    assert officer_of("LIC/1") == users["Ada Byron"] and officer_of("LIC/3") == users["Cleo Dunn"]

    # The dashboard's tables, pulled back from the CRM: open caseload per officer, and the officer on each listing.
    with open(s.report.out_dir / "foi-report-all-csv" / "open_caseload_by_officer.csv", encoding="utf-8") as fh:
        table = {(r["Team"], r["Officer"]): int(r["Open cases"]) for r in csv.DictReader(fh)}
    assert table == {("Licensing", "Ada Byron"): 4, ("Licensing", "Cleo Dunn"): 3}
    with open(s.report.out_dir / "foi-report-all-csv" / "due_soon.csv", encoding="utf-8") as fh:
        assert next(csv.reader(fh))[:2] == ["Team", "Officer"]
    html = (s.report.out_dir / "foi-report-all.html").read_text(encoding="utf-8")
    assert "Open caseload by officer" in html and "Cleo Dunn" in html
