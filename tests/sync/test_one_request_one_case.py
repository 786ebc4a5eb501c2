"""One request, one case, over real HTTP to the sandbox: the same email sent to foi@ and planning@ (two mailbox
sources, one Message-ID) becomes one case with the other arrival recorded on it, one acknowledgement, and no link to
itself. The same words sent twice to the same mailbox days apart stay two requests.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector import odata
from connector.config import IntakeSource
from connector.paths import MAPPINGS_DIR
from connector.sync.job import run_sync

TEXT = "Please tell me how many planning enforcement notices the council served in 2025, by ward."


def _eml(folder: Path, name: str, to: str, message_id: str, when: datetime, sender: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = email.utils.format_datetime(when)
    (folder / name).write_text(
        f"Received: from mx.example.net by mail.example.gov.uk; {stamp}\n"
        f"From: Priya Okonkwo-Hale <{sender}>\nTo: <{to}>\nSubject: Enforcement notices\nDate: {stamp}\n"
        f"Message-ID: <{message_id}>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
        f"Dear Council,\n\n{TEXT}\n\nPriya Okonkwo-Hale\n",
        encoding="utf-8",
    )


@pytest.fixture
def settings(sync_settings: Any, tmp_path: Path) -> Any:
    sync_settings.intake.sources = [
        IntakeSource(
            name=name, kind="eml-folder", path=str(tmp_path / name), mapping=MAPPINGS_DIR / "source-mailbox.toml"
        )
        for name in ("foi-mailbox", "planning-mailbox")
    ]
    sync_settings.intake.rules = MAPPINGS_DIR / "routing-rules.toml"
    sync_settings.intake.triage_rules = MAPPINGS_DIR / "triage-rules.toml"
    return sync_settings


def test_one_email_to_two_addresses_is_one_case_with_one_acknowledgement(
    settings: Any, provisioned: Any, tmp_path: Path
) -> None:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    sender = "priya.oh@example.org"
    _eml(tmp_path / "foi-mailbox", "a.eml", "foi@example.gov.uk", "m1@example.org", when, sender)
    _eml(tmp_path / "planning-mailbox", "b.eml", "planning@example.gov.uk", "m1@example.org", when, sender)
    first = run_sync(settings, client=provisioned)
    assert first.exit_code == 0, first.errors
    assert first.counts["source_cases"] == 1 and first.counts["created"] == 1
    assert first.counts["letters_created"] == 1  # one acknowledgement

    cases = list(
        provisioned.query(
            "incidents",
            select=["incidentid", "foi_otherarrivals", "foi_relatedrequests", "_foi_relatedcaseid_value"],
            filter=odata.ne("foi_reference", None),
        )
    )
    assert len(cases) == 1
    case = cases[0]
    assert case["foi_otherarrivals"] == "planning-mailbox/b.eml"
    assert case["foi_relatedrequests"] is None and case["_foi_relatedcaseid_value"] is None  # not a repeat of itself
    emails = list(
        provisioned.query(
            "emails", select=["subject"], filter=odata.eq("_regardingobjectid_value", odata.Guid(case["incidentid"]))
        )
    )
    assert [e["subject"].split(" - ")[0] for e in emails] == ["Acknowledgement of your request"], emails

    again = run_sync(settings, client=provisioned)
    assert again.exit_code == 0, again.errors
    assert again.write_requests == 0


def test_the_same_words_twice_to_one_mailbox_are_two_requests(settings: Any, provisioned: Any, tmp_path: Path) -> None:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    sender = "priya.oh@example.org"
    _eml(tmp_path / "foi-mailbox", "a.eml", "foi@example.gov.uk", "m1@example.org", when, sender)
    _eml(tmp_path / "foi-mailbox", "b.eml", "foi@example.gov.uk", "m2@example.org", when + timedelta(minutes=5), sender)
    (tmp_path / "planning-mailbox").mkdir()
    report = run_sync(settings, client=provisioned)
    assert report.exit_code == 0, report.errors
    assert report.counts["source_cases"] == 2 and report.counts["created"] == 2
