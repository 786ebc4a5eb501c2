"""Cross-referencing never scans the whole index, yet misses nothing (connector/intake/crossref.py).

The candidate filter is checked against a brute-force oracle: every row whose cosine with the query reaches the
threshold, found by a dense product over the whole matrix, must be among the candidates. Requests are random
word salads over a small vocabulary, so many pairs share terms and a filter that drops one would show.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.intake.crossref import CrossRefIndex, requester_key
from connector.model import RelationKind

WORDS = [f"w{i}" for i in range(40)] + ["parking", "potholes", "licence", "school", "budget", "contract"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(2, 12))) for _ in range(n)]
    # a few near-copies so that high similarities occur
    for i in range(0, n, 7):
        texts[i] = texts[max(0, i - 3)] + " " + rng.choice(WORDS)
    return pd.DataFrame(
        {
            "reference": [f"R/{i}" for i in range(n)],
            "subject": ["" for _ in range(n)],
            "request_text": texts,
            "received_at": pd.to_datetime("2025-01-01", utc=True)
            + pd.to_timedelta([rng.randint(0, 400) for _ in range(n)], unit="D"),
            "regime": ["foia"] * n,
            "requester_key": [requester_key(None, f"p{rng.randint(0, n // 4)}@example.org") for _ in range(n)],
        }
    )


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(min_value=5, max_value=120),
    seed=st.integers(0, 10_000),
    threshold=st.sampled_from([0.3, 0.6, 0.75, 0.9]),
)
def test_candidates_hold_every_row_that_reaches_the_threshold(n: int, seed: int, threshold: float) -> None:
    index = CrossRefIndex(_frame(n, seed))
    if index.matrix is None:
        return
    dense = index.matrix.toarray().astype(np.float64)
    for pos in range(n):
        q = index.matrix[pos]
        brute = set(np.flatnonzero(dense @ dense[pos] >= threshold).tolist())
        assert brute <= set(index._candidates(q, threshold).tolist()), (pos, threshold)


def test_a_query_reads_a_bounded_part_of_the_index() -> None:
    """With distinct texts, a query's candidates are a small part of a large index (the point of the filter)."""
    frame = _frame(3000, 1)
    rng = random.Random(5)
    frame["request_text"] = [
        f"{rng.choice(WORDS)} {rng.choice(WORDS)} ref{i} item{i * 7} site{i * 13}" for i in range(len(frame))
    ]
    index = CrossRefIndex(frame)
    assert index.matrix is not None
    sizes = [len(index._candidates(index.matrix[p], 0.75)) for p in range(0, 3000, 100)]
    assert max(sizes) < 30, sizes


def test_same_requester_links_in_a_large_index_match_a_small_one() -> None:
    """A repeat found among 5 requests is still found among 5 plus 3,000 unrelated ones: the windowed, filtered
    search returns what the small index's exhaustive one does."""
    base = pd.DataFrame(
        {
            "reference": ["A/1", "A/2", "B/1", "C/1", "D/1"],
            "subject": ["Parking fines", "Parking fines", "Parking fines", "Parking fines", "Trees"],
            "request_text": [
                "How many parking fines were issued on Mill Lane in 2024?",
                "How many parking fines were issued on Mill Lane in 2024, please?",
                "How many parking fines were issued on Mill Lane in 2024?",
                "How many parking fines were issued on Mill Lane in 2024?",
                "How many trees were planted?",
            ],
            "received_at": pd.to_datetime(
                ["2025-03-03", "2025-03-20", "2025-03-04", "2025-03-05", "2025-03-06"], utc=True
            ),
            "regime": ["foia"] * 5,
            "requester_key": [requester_key(None, e) for e in ["a@x.org", "a@x.org", "b@x.org", "c@x.org", "d@x.org"]],
            "stage": ["closed_answered", "received", "closed_answered", "received", "received"],
            "responded_at": pd.to_datetime(["2025-03-10", None, "2025-03-12", None, None], utc=True),
        }
    )
    noise = _frame(3000, 9).assign(stage="received", responded_at=pd.NaT)
    noise["received_at"] = noise["received_at"] - pd.Timedelta(days=900)  # long before: outside every window
    small = CrossRefIndex(base).related_for_frame(base.iloc[[1]])[0]
    large = CrossRefIndex(pd.concat([noise, base], ignore_index=True)).related_for_frame(base.iloc[[1]])[0]
    assert small == large
    assert ("A/1", RelationKind.REPEAT) in {(r.reference, r.relation) for r in large}


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_indexes(n: int) -> None:
    frame = _frame(max(n, 1), 3).iloc[:n]
    index = CrossRefIndex(frame)
    assert index.related_for_frame(frame) == [[] for _ in range(n)]
