"""Features for the learned models, as plain numbers that round-trip through a JSON model file.

Text: word counts over a vocabulary learnt from the training cases (English stop words dropped, words seen in at
least two cases), sublinear TF-IDF, rows scaled to unit length: what scikit-learn's TfidfVectorizer computes, kept
as (vocabulary, idf) so a loaded model needs no pickled object. Categories (regime, service area, channel, requester
type): one column per value seen in training; an unseen value sets none. Numbers: questions in the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from connector.intake.grade import question_count

CATEGORIES = ("regime", "service_area", "channel", "requester_type")


def texts_of(frame: pd.DataFrame) -> list[str]:
    """Subject (or title) and request text, one string per case."""
    subject = frame["subject"] if "subject" in frame else pd.Series([""] * len(frame), index=frame.index)
    body = frame["request_text"] if "request_text" in frame else pd.Series([""] * len(frame), index=frame.index)
    return (subject.fillna("").astype(str) + "\n" + body.fillna("").astype(str)).tolist()


class TextFeatures:
    def __init__(self, vocabulary: dict[str, int], idf: Sequence[float], ngrams: int) -> None:
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float64)
        self.ngrams = ngrams

    @staticmethod
    def _counter(ngrams: int, vocabulary: dict[str, int] | None = None, max_features: int | None = None) -> Any:
        from sklearn.feature_extraction.text import CountVectorizer

        return CountVectorizer(
            lowercase=True,
            stop_words="english",
            ngram_range=(1, ngrams),
            min_df=1 if vocabulary is not None else 2,
            max_features=max_features,
            vocabulary=vocabulary,
            dtype=np.float64,
        )

    @classmethod
    def fit(cls, texts: Sequence[str], *, ngrams: int = 1, max_features: int = 5000) -> TextFeatures:
        counter = cls._counter(ngrams, max_features=max_features)
        try:
            counts = counter.fit_transform(list(texts))
        except ValueError:  # no word seen twice: an empty vocabulary
            return cls({}, [], ngrams)
        n = counts.shape[0]
        df = np.asarray((counts > 0).sum(axis=0)).ravel()
        idf = np.log((1 + n) / (1 + df)) + 1.0
        vocab = {str(k): int(v) for k, v in counter.vocabulary_.items()}
        return cls(vocab, idf.tolist(), ngrams)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        if not self.vocabulary:
            return sparse.csr_matrix((len(texts), 0))
        counts = self._counter(self.ngrams, vocabulary=self.vocabulary).transform(list(texts)).tocsr()
        counts.data = 1.0 + np.log(counts.data)
        weighted = counts.multiply(self.idf).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / norms) @ weighted)

    def params(self) -> dict[str, Any]:
        return {"vocabulary": self.vocabulary, "idf": self.idf.tolist(), "ngrams": self.ngrams}

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> TextFeatures:
        return cls({str(k): int(v) for k, v in p["vocabulary"].items()}, p["idf"], int(p["ngrams"]))


class CaseFeatures:
    """Categories + question count + text, for the time-to-respond model."""

    def __init__(self, categories: dict[str, list[str]], text: TextFeatures) -> None:
        self.categories = categories
        self.text = text

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> CaseFeatures:
        cats = {c: sorted({str(v) for v in frame[c].dropna()}) if c in frame else [] for c in CATEGORIES}
        return cls(cats, TextFeatures.fit(texts_of(frame), ngrams=1, max_features=3000))

    def transform(self, frame: pd.DataFrame) -> sparse.csr_matrix:
        n = len(frame)
        blocks = []
        for c in CATEGORIES:
            values = self.categories[c]
            index = {v: i for i, v in enumerate(values)}
            col = frame[c].tolist() if c in frame else [None] * n
            rows, cols = [], []
            for r, v in enumerate(col):
                j = index.get(str(v)) if v is not None and v == v else None
                if j is not None:
                    rows.append(r)
                    cols.append(j)
            blocks.append(sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(values))))
        questions = np.array([min(question_count(str(t)), 20) for t in request_texts(frame)], dtype=np.float64)
        blocks.append(sparse.csr_matrix(questions.reshape(-1, 1)))
        blocks.append(self.text.transform(texts_of(frame)))
        return sparse.hstack(blocks, format="csr")

    def params(self) -> dict[str, Any]:
        return {"categories": self.categories, "text": self.text.params()}

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> CaseFeatures:
        return cls(
            {c: [str(v) for v in p["categories"].get(c, [])] for c in CATEGORIES}, TextFeatures.from_params(p["text"])
        )


def request_texts(frame: pd.DataFrame) -> list[str]:
    return frame["request_text"].fillna("").astype(str).tolist() if "request_text" in frame else [""] * len(frame)


def held_back_split(frame: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The most recent ``fraction`` of cases (by date received, then reference) held back; the rest to train on.

    Judged on the newest requests, as the model will be used: on requests that arrive after the ones it learnt from.
    """
    order = frame.sort_values(["received_date", "reference"], kind="mergesort")
    n_test = max(1, round(len(order) * fraction))
    return order.iloc[:-n_test], order.iloc[-n_test:]
