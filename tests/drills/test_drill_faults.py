"""Small version of scripts/drill_faults.py: cases, requesters and acknowledgements pushed through 5xx, dropped
connections (before and after the commit), 429 bursts and revoked tokens, first through the bulk client and then
through `run_migrate`, end with nothing lost, nothing duplicated and the CRM equal to the source: to foi-sync's own plan
and, on the key columns, to the independent oracle of scripts/drill_oracle.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import drill_faults


def _assert_clean(part: dict[str, Any], cases: int) -> None:
    injected = part["injected"]
    # The part really met every kind of fault ...
    assert injected.get("5xx", 0) >= 1 and injected.get("drop", 0) >= 1 and injected.get("burst", 0) >= 1, injected
    assert part["throttled_429"] >= 1
    assert part["token_expiries"] >= 1
    # ... and the CRM ends equal to the source.
    check = part["check"]
    assert (check["lost_cases"], check["lost_contacts"]) == (0, 0), check
    assert (check["duplicated_cases"], check["duplicated_contacts"]) == (0, 0), check
    assert check["extra_cases"] == 0 and check["mismatched_fields"] == 0, check
    assert check["crm_cases"] == cases
    # ... and equal to the oracle computed from the raw register rows with the shipped mappings (not the connector).
    oracle = part["oracle"]
    assert oracle["ok"] and oracle["checked_cases"] == cases and oracle["mismatched"] == 0, oracle
    assert (oracle["lost"], oracle["duplicated"], oracle["extra"]) == (0, 0, 0), oracle
    assert part["ok"]


def test_records_survive_injected_faults(tmp_path: Path, quiet_logs: None) -> None:
    result = drill_faults.run(
        cases=300,
        migrate_cases=200,
        faults="5xx=0.08,drop=0.04,burst=0.01,after=0.5,burst_seconds=1,seed=3",
        expire_every=0.5,
        max_runs=3,
        timeout=60,
        workdir=tmp_path,
        verbose=False,
    )
    volume, engine = result["volume"], result["engine"]
    _assert_clean(volume, 300)
    # Acknowledgements are creates (not idempotent by nature): each once, on the right case.
    assert volume["emails"] == {"expected": 300, "crm": 300, "duplicated": 0, "wrong_case": 0, "ok": True}
    _assert_clean(engine, 200)
    assert engine["duplicated_notes"] == 0
    assert result["ok"]
