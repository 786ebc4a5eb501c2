"""Business-as-usual rules search a request once per rule (one joined pattern), with the same answers as searching
keyword by keyword: checked over the shipped rules, every fixture request, and each keyword placed in a sentence."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from connector.intake.triage import Triage, _any_of, load_triage_rules

REPO = Path(__file__).resolve().parents[2]


def _texts(triage: Triage) -> list[str]:
    with (REPO / "tests" / "triage" / "fixtures" / "requests.csv").open(encoding="utf-8") as fh:
        texts = [f"{row['Subject']}\n{row['Request']}" for row in csv.DictReader(fh)]
    for rule, _ in triage.bau:
        for word in [*rule.keywords, "xbinx", "BINS", "pothole-ish"]:
            texts += [f"Please {word} today", f"{word}", f"re{word}", f"{word.upper()} on the street"]
    return texts


def test_the_joined_pattern_agrees_with_the_keywords_one_by_one() -> None:
    triage = Triage(load_triage_rules(REPO / "mappings" / "triage-rules.toml"))
    assert any(a is not None for a in triage.bau_any), "no rule was joined: the fast path is never taken"
    for (_, rxs), joined in zip(triage.bau, triage.bau_any, strict=True):
        for text in _texts(triage):
            one_by_one = any(rx.search(text) for rx in rxs)
            assert (joined.search(text) is not None if joined else one_by_one) == one_by_one, (joined, text)


def test_the_pattern_of_all_rules_agrees_with_each_rule() -> None:
    triage = Triage(load_triage_rules(REPO / "mappings" / "triage-rules.toml"))
    assert triage.bau_none is not None
    for text in _texts(triage):
        each = any(rx.search(text) for _, rxs in triage.bau for rx in rxs)
        assert (triage.bau_none.search(text) is not None) == each, text


def test_patterns_that_cannot_be_joined_are_searched_one_by_one() -> None:
    assert _any_of([re.compile(r"(a)\1", re.I), re.compile("b", re.I)]) is None
    assert _any_of([re.compile("(?i)x"), re.compile("b")]) is None
    assert _any_of([]) is None
    joined = _any_of([re.compile(r"\bbin\b", re.I), re.compile("pot ?hole", re.I)])
    assert joined is not None and joined.search("a POTHOLE") and not joined.search("cabinet")
