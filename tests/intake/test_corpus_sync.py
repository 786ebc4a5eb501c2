"""The hostile-input corpus through ONE ``foi-sync sync`` against the sandbox (issue 19's "must show").

After the run: every healthy record is in the CRM equal to its source (expected values from tests/corpus/corpus_files.py's
oracle, computed from the raw rows) and nothing else is, every broken file or row has exactly one reject line, no
traceback, and no NUL and no formula reaches a report (CSV cells, XLSX formulas and text cells), the rejects file or
the CRM. The run and the checks are in tests/corpus/sync_check.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "corpus"))

import sync_check  # noqa: E402


@pytest.mark.slow
def test_the_hostile_corpus_through_one_sync(tmp_path: Path) -> None:
    run = sync_check.run_corpus(tmp_path / "corpus")
    figures = sync_check.check(run)
    assert figures["problems"] == [], (figures["problems"], run["proc"].stderr[-3000:])
    assert figures["healthy_equal"] == figures["healthy"] > 30
    assert figures["report_files"] > 0
    assert figures["neutralised_cells"] > 0  # formula-shaped references did reach the reports, neutralised
