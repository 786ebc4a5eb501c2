"""The drills' oracle (scripts/drill_oracle.py) itself: its rules on hand-worked rows, and a drill run with a
deliberately broken target mapping that must FAIL naming the column, while the shipped mapping passes.

The connector's own check compares the CRM with the connector's own plan, so a mapping bug moves both and passes;
the oracle computes the key columns from the raw register rows and the shipped mappings as data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import drill_faults
import drill_oracle
import pytest

# Choice values from mappings/target-incident.toml, [fields.regime.choices] and [fields.stage.choices].
FOIA, EIR, FOISA = 100000000, 100000001, 100000002
CLARIFICATION_REQUESTED, CLOSED, RECEIVED = 100000003, 100000008, 100000000
REROUTED = 100000013
# [fields.triage.choices]
TRIAGE_REQUEST, BUSINESS_AS_USUAL = 100000000, 100000002


def _row(**cells: str) -> dict[str, str]:
    base = {
        "Ref No": " foi/2025/0007 ",
        "Date Received": "03/11/2025",
        "Time Received": "09:15",
        "Request Type": "Env Info",
        "Status": "Awaiting clarification",
        "Date Responded": "",
        "Email": " Jo.Bloggs@Example.ORG ",
    }
    return base | cells


def test_rules_on_hand_worked_rows() -> None:
    spec = drill_oracle.load_spec()
    exp = drill_oracle.expected_row(_row(), 5, spec)
    # docs/intake.md: references trimmed and upper-cased; docs/client.md: '/' is not key-safe, stored as '-'.
    assert exp.case["foi_sourcereference"] == "FOI/2025/0007"
    assert exp.case["foi_reference"] == "FOI-2025-0007"
    # 09:15 on 3 November 2025 in London is GMT, so 09:15 UTC.
    assert exp.case["foi_receivedon"].instant == datetime(2025, 11, 3, 9, 15, tzinfo=UTC)
    # "Env Info" is in the source mapping's [values.regime]; the stage word in [values.stage].
    assert (exp.case["foi_regime"], exp.case["foi_stage"]) == (EIR, CLARIFICATION_REQUESTED)
    assert exp.case["foi_respondedon"] is None  # a blank register cell: the CRM column must be empty
    assert exp.email == "jo.bloggs@example.org" and exp.unpredicted == []

    # 09:15 on 1 July 2025 is BST (UTC+1): 08:15 UTC. A date-only responded date: any instant that London day.
    summer = drill_oracle.expected_row(
        _row(**{"Date Received": "01/07/2025", "Status": "Closed", "Date Responded": "27/11/2025"}), 6, spec
    )
    assert summer.case["foi_receivedon"].instant == datetime(2025, 7, 1, 8, 15, tzinfo=UTC)
    assert summer.case["foi_stage"] == CLOSED
    responded = summer.case["foi_respondedon"]
    assert responded.day == date(2025, 11, 27)
    assert responded.matches("2025-11-27T23:30:00Z", spec.zone) and not responded.matches(
        "2025-11-28T00:30:00Z", spec.zone
    )

    # Clock changes (RFC 5545 s.3.3.5): 01:30 on 25 October 2026 happens twice, the first is BST (00:30 UTC);
    # 01:24 on 29 March 2026 never happens in London (01:00 GMT is 02:00 BST), so only its day is compared.
    autumn = drill_oracle.expected_row(_row(**{"Date Received": "25/10/2026", "Time Received": "01:30"}), 10, spec)
    assert autumn.case["foi_receivedon"].instant == datetime(2026, 10, 25, 0, 30, tzinfo=UTC) and autumn.day_only == []
    gap = drill_oracle.expected_row(_row(**{"Date Received": "29/03/2026", "Time Received": "01:24"}), 11, spec)
    assert gap.case["foi_receivedon"].day == date(2026, 3, 29) and gap.day_only == ["foi_receivedon"]
    assert gap.case["foi_receivedon"].matches("2026-03-29T01:00:00Z", spec.zone)

    # Built-in spellings (docs/intake.md), any case; blank type: decided from the wording, so not predicted.
    assert (
        drill_oracle.expected_row(_row(**{"Request Type": "freedom of information"}), 7, spec).case["foi_regime"]
        == FOIA
    )
    blank = drill_oracle.expected_row(_row(**{"Request Type": "", "Status": "", "Email": ""}), 8, spec)
    assert blank.unpredicted == ["foi_regime"] and blank.case["foi_stage"] == RECEIVED and blank.email is None
    scots = drill_oracle.load_spec(nation="scotland")
    assert drill_oracle.expected_row(_row(**{"Request Type": "FOI"}), 9, scots).case["foi_regime"] == FOISA


def test_compare_names_the_column_and_never_the_email() -> None:
    spec = drill_oracle.load_spec()
    expected = [drill_oracle.expected_row(_row(), 2, spec)]
    good = {
        "foi_sourcereference": "FOI/2025/0007",
        "foi_reference": "FOI-2025-0007",
        "foi_receivedon": "2025-11-03T09:15:00Z",
        "foi_respondedon": None,
        "foi_regime": EIR,
        "foi_stage": CLARIFICATION_REQUESTED,
        "_customerid_value": "c1",
    }
    contacts = [{"contactid": "c1", "emailaddress1": "jo.bloggs@example.org"}]
    assert drill_oracle.compare(expected, [good], contacts, spec)["ok"]
    bad = drill_oracle.compare(
        expected, [good | {"foi_stage": RECEIVED}], [{"contactid": "c1", "emailaddress1": "jo@x.org"}], spec
    )
    assert not bad["ok"] and bad["by_column"] == {"contacts.emailaddress1": 1, "foi_stage": 1}
    assert not any("jo.bloggs@" in e or "jo@x.org" in e for e in bad["examples"]), bad["examples"]
    lost = drill_oracle.compare(expected, [], contacts, spec)
    assert (lost["ok"], lost["lost"]) == (False, 1)


def test_triage_decides_the_stage_only_of_requests_nobody_has_acted_on() -> None:
    """docs/triage.md: an untouched request ("Open", no outcome, no response) judged business as usual is stage
    rerouted in the CRM, with the triage decision beside it; an answered case keeps the register's stage."""
    spec = drill_oracle.load_spec()
    contacts = [{"contactid": "c1", "emailaddress1": "jo.bloggs@example.org"}]
    crm = {
        "foi_sourcereference": "FOI/2025/0007",
        "foi_reference": "FOI-2025-0007",
        "foi_receivedon": "2025-11-03T09:15:00Z",
        "foi_respondedon": None,
        "foi_regime": EIR,
        "foi_stage": REROUTED,
        "_customerid_value": "c1",
    }
    open_row = [drill_oracle.expected_row(_row(Status="Open"), 2, spec)]
    agreed = drill_oracle.compare(open_row, [crm | {"foi_triage": BUSINESS_AS_USUAL}], contacts, spec)
    assert agreed["ok"] and agreed["triage"] == {"rerouted": 1}, agreed
    no_decision = drill_oracle.compare(open_row, [crm | {"foi_triage": TRIAGE_REQUEST}], contacts, spec)
    assert no_decision["by_column"] == {"foi_stage": 1}
    answered = [drill_oracle.expected_row(_row(Status="Closed", **{"Date Responded": "27/11/2025"}), 2, spec)]
    closed = crm | {"foi_triage": BUSINESS_AS_USUAL, "foi_respondedon": "2025-11-27T10:00:00Z"}
    assert drill_oracle.compare(answered, [closed], contacts, spec)["by_column"] == {"foi_stage": 1}


#: Three mapping bugs in one copy of mappings/target-incident.toml (text replaced in order), and the columns each
#: one leaves wrong: two date columns swapped, two choice columns swapped, the requester's email sent to another
#: contact column. All three pass the connector's own mapping check against the tenant and its own plan check.
BUGS: list[tuple[list[tuple[str, str]], set[str]]] = [
    (
        [
            ('column = "foi_receivedon"', 'column = "swap"'),
            ('column = "foi_respondedon"', 'column = "foi_receivedon"'),
            ('column = "swap"', 'column = "foi_respondedon"'),
        ],
        {"foi_receivedon", "foi_respondedon"},
    ),
    (
        [
            ('[fields.regime]\ncolumn = "foi_regime"', '[fields.regime]\ncolumn = "swap"'),
            ('[fields.stage]\ncolumn = "foi_stage"', '[fields.stage]\ncolumn = "foi_regime"'),
            ('[fields.regime]\ncolumn = "swap"', '[fields.regime]\ncolumn = "foi_stage"'),
        ],
        {"foi_regime", "foi_stage"},
    ),
    (
        [('[contact.fields.email]\ncolumn = "emailaddress1"', '[contact.fields.email]\ncolumn = "jobtitle"')],
        {"contacts.emailaddress1"},
    ),
]


@pytest.mark.parametrize("broken", [False, True], ids=["shipped mapping passes", "broken mapping fails"])
def test_a_mapping_bug_fails_the_drill_naming_the_columns(broken: bool, tmp_path: Path, quiet_logs: None) -> None:
    text = drill_oracle.SHIPPED_TARGET.read_text(encoding="utf-8")
    columns: set[str] = set()
    for edits, wrong in BUGS if broken else []:
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new, 1)
        columns |= wrong
    mapping = tmp_path / "target.toml"
    mapping.write_text(text, encoding="utf-8")
    result = drill_faults.run(
        cases=0,
        migrate_cases=30,
        faults="off",
        timeout=60,
        workdir=tmp_path / "drill",
        verbose=False,
        target_mapping=mapping,
    )
    engine = result["engine"]
    assert engine["runs"][-1].get("exit_code") == 0, engine["runs"]  # the connector itself saw nothing wrong
    oracle = engine["oracle"]
    assert set(oracle["by_column"]) == columns, oracle
    if not broken:
        assert result["ok"] and oracle["ok"] and oracle["checked_cases"] == 30, oracle
        return
    assert not result["ok"] and not oracle["ok"] and oracle["mismatched"] > 0
    assert oracle["examples"] and all(any(c in e for c in columns) for e in oracle["examples"])
