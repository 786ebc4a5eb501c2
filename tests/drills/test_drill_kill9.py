"""Small version of scripts/drill_kill9.py: `foi-sync migrate` killed with SIGKILL twice (sandbox in its own
process, database on disk), resumed each time, ends with the CRM equal to the source."""

from __future__ import annotations

from pathlib import Path

import drill_kill9


def test_kill9_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    result = drill_kill9.run(
        kills=2, cases=300, profile="realistic", seed=7, write_window=0.3, timeout=80, workdir=tmp_path, verbose=False
    )
    assert result["kills"] >= 1, result["cycles"]  # at least one run really died mid-way
    check = result["check"]
    assert result["final_exit_code"] == 0, result["final_counts"]
    assert (check["lost_cases"], check["lost_contacts"]) == (0, 0), check
    assert (check["duplicated_cases"], check["duplicated_contacts"]) == (0, 0), check
    assert (result["duplicated_notes"], result["duplicated_tasks"], result["dead_letters"]) == (0, 0, 0)
    assert check["extra_cases"] == 0 and check["mismatched_fields"] == 0, check
    assert check["crm_cases"] == 300
    oracle = result["oracle"]  # the key columns against the raw register rows (scripts/drill_oracle.py)
    assert oracle["ok"] and oracle["checked_cases"] == 300 and oracle["mismatched"] == 0, oracle
    assert result["ok"]
