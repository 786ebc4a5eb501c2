"""The bad-input corpus of scripts/drill_bad_inputs.py: each bad input gets a clear error, hostile but legal values
land exactly, and every good row goes through."""

from __future__ import annotations

from typing import Any

import drill_bad_inputs
import pytest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import logging

    logging.getLogger().setLevel(logging.CRITICAL)
    return drill_bad_inputs.run(
        good=60, verbose=False, workdir=tmp_path_factory.mktemp("bad-inputs"), corpus=False
    )  # the file corpus runs once, in tests/intake/test_corpus_sync.py


def _failures(corpus: dict[str, Any], kind: str) -> list[str]:
    return [
        f"{i['name']}: {i['outcome']} | {i['message'][:200]}"
        for i in corpus["items"]
        if i["kind"] == kind and not i["passed"]
    ]


COLLIDING = "same key-safe reference as the row before"


def test_bad_rows_are_rejected_by_row_and_field_and_hostile_values_land_exactly(corpus: dict[str, Any]) -> None:
    assert [f for f in _failures(corpus, "row") if not f.startswith(COLLIDING)] == []


def test_a_row_colliding_on_the_key_safe_reference_stays_an_open_dead_letter(corpus: dict[str, Any]) -> None:
    item = next(i for i in corpus["items"] if i["name"] == COLLIDING)
    assert item["passed"], f"{item['outcome']} | {item['message']}"


def test_broken_mapping_files_are_refused_naming_file_and_key(corpus: dict[str, Any]) -> None:
    assert _failures(corpus, "mapping") == []


def test_broken_templates_are_refused_and_other_letters_still_render(corpus: dict[str, Any]) -> None:
    assert _failures(corpus, "template") == []


def test_good_rows_land_unchanged_and_hostile_filters_match_one_record(corpus: dict[str, Any]) -> None:
    summary = corpus["summary"]
    check = summary["check"]
    assert check["lost_cases"] == 0 and check["duplicated_cases"] == 0 and check["mismatched_fields"] == 0, check
    # The good rows and the hostile-but-legal ones, on the key columns, against the raw rows (scripts/drill_oracle.py).
    oracle = summary["oracle"]
    hostile = sum(1 for i in corpus["items"] if i["kind"] == "row" and i["expect"] == "lands")
    assert oracle["ok"] and oracle["checked_cases"] == summary["good_rows"] + hostile, oracle
    assert summary["filters_match_exactly_one"] == {"x' or 1 eq 1": 1, "O'Brien": 1, "o'brien@example.org": 1}


def test_no_reject_message_echoes_requester_data(corpus: dict[str, Any]) -> None:
    for item in corpus["items"]:
        for value in item["override"].values():
            if "@" in value or "O'Brien" in value:
                assert value not in item["message"], item["name"]
