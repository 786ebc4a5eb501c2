"""Learned routing: which service area a request belongs to, from the CRM's routed cases.

TF-IDF of words and word pairs, multinomial logistic regression (as :class:`connector.intake.classify.RoutingModel`),
kept as numbers in a JSON model file. It is judged the way `sync` would use it: on the most recent routed cases,
held back, the routing rules alone against the rules with the model beside them (the more confident answer wins,
at or above the rules' ``min_confidence``). It is usable only when that gets more held-back cases right than the
rules alone, by at least ``MIN_GAIN``. Service areas with fewer than ``min_per_class`` cases are left to the rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from connector.intake.classify import RoutingRules, RuleClassifier
from connector.learn.features import TextFeatures, held_back_split, texts_of
from connector.learn.model_file import ModelFile, ModelMeta

#: Share of held-back cases the rules + model must get right beyond the rules alone.
MIN_GAIN = 0.02


class RoutingModelJson:
    """Predicts (service area, probability) with numpy alone; ``teams`` maps each area to its usual team."""

    def __init__(
        self,
        text: TextFeatures,
        classes: list[str],
        coef: np.ndarray,
        intercept: np.ndarray,
        teams: dict[str, str | None],
        meta: ModelMeta,
    ) -> None:
        self.text = text
        self.classes = classes
        self.coef = coef
        self.intercept = intercept
        self.teams = teams
        self.meta = meta

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        if not self.classes or len(texts) == 0:
            return []
        scores = np.asarray(self.text.transform(list(texts)) @ self.coef.T) + self.intercept
        if len(self.classes) == 2:  # scikit-learn keeps one row of weights for two classes
            p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            proba = np.column_stack([1.0 - p1, p1])
        else:
            scores = scores - scores.max(axis=1, keepdims=True)
            e = np.exp(scores)
            proba = e / e.sum(axis=1, keepdims=True)
        best = np.argmax(proba, axis=1)
        return [(self.classes[i], float(proba[k, i])) for k, i in enumerate(best)]

    @staticmethod
    def _fit(
        frame: pd.DataFrame, min_per_class: int
    ) -> tuple[TextFeatures, list[str], np.ndarray, np.ndarray, dict[str, str | None]] | None:
        from sklearn.linear_model import LogisticRegression

        counts = Counter(str(a) for a in frame["service_area"].dropna())
        keep = {a for a, c in counts.items() if c >= min_per_class}
        rows = frame[frame["service_area"].isin(keep)]
        if len(keep) < 2:
            return None
        texts = texts_of(rows)
        text = TextFeatures.fit(texts, ngrams=2, max_features=20000)
        if not text.vocabulary:
            return None
        lr = LogisticRegression(max_iter=1000, C=4.0)
        lr.fit(text.transform(texts), rows["service_area"].astype(str).to_numpy())
        teams: dict[str, str | None] = {}
        if "assigned_team" in rows:
            for area, group in rows.groupby("service_area"):
                votes = Counter(str(t) for t in group["assigned_team"].dropna())
                teams[str(area)] = votes.most_common(1)[0][0] if votes else None
        classes = [str(c) for c in lr.classes_]
        return text, classes, np.asarray(lr.coef_, dtype=np.float64), np.asarray(lr.intercept_, dtype=np.float64), teams

    @classmethod
    def train(
        cls,
        history: pd.DataFrame,
        rules: RoutingRules | None,
        *,
        min_per_class: int = 5,
        held_back: float = 0.2,
        min_cases: int = 40,
    ) -> RoutingModelJson:
        import sklearn

        routed = history[history["service_area"].notna()].reset_index(drop=True)
        n = len(routed)
        split = f"the most recent {held_back:.0%} of routed cases by date received"
        lib = f"scikit-learn {sklearn.__version__}"

        def refused(reason: str, trained_on: int, held: int, metrics: dict[str, float]) -> RoutingModelJson:
            meta = ModelMeta(
                kind="routing",
                trained_on=trained_on,
                held_back=held,
                split=split,
                metrics=metrics,
                usable=False,
                reason=reason,
                fitted_on=0,
                library=lib,
            )
            return cls(TextFeatures({}, [], 2), [], np.zeros((0, 0)), np.zeros(0), {}, meta)

        if n < min_cases:
            return refused(f"only {n} cases with a service area; at least {min_cases} are needed", n, 0, {})
        train, test = held_back_split(routed, held_back)
        fitted = cls._fit(train, min_per_class)
        if fitted is None:
            return refused(
                f"fewer than two service areas have {min_per_class}+ cases to learn from", len(train), len(test), {}
            )
        trial = cls(*fitted, meta=_placeholder())
        acc_rules, acc_both = evaluate(trial, rules, test)
        metrics = {"accuracy_rules": round(acc_rules, 4), "accuracy_with_model": round(acc_both, 4)}
        words = (
            f"rules alone route {acc_rules:.1%} of {len(test)} held-back cases to the service area the CRM holds, "
            f"rules with the model {acc_both:.1%}"
        )
        if acc_both < acc_rules + MIN_GAIN:
            return refused(
                f"does not beat the rules: {words}; it needs {MIN_GAIN:.0%} more, so sync does not use it",
                len(train),
                len(test),
                metrics,
            )
        final = cls._fit(routed, min_per_class) or fitted
        meta = ModelMeta(
            kind="routing",
            trained_on=len(train),
            held_back=len(test),
            split=split,
            metrics=metrics,
            usable=True,
            reason=f"beats the rules: {words}",
            fitted_on=n,
            library=lib,
        )
        return cls(*final, meta=meta)

    def to_file(self) -> ModelFile:
        params = {
            "text": self.text.params(),
            "classes": self.classes,
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "teams": self.teams,
        }
        return ModelFile(meta=self.meta, params=params)

    @classmethod
    def from_file(cls, model: ModelFile) -> RoutingModelJson:
        p: dict[str, Any] = model.params
        return cls(
            TextFeatures.from_params(p["text"]),
            [str(c) for c in p["classes"]],
            np.asarray(p["coef"], dtype=np.float64),
            np.asarray(p["intercept"], dtype=np.float64),
            {str(k): (str(v) if v is not None else None) for k, v in p["teams"].items()},
            model.meta,
        )


def evaluate(model: RoutingModelJson, rules: RoutingRules | None, test: pd.DataFrame) -> tuple[float, float]:
    """(rules alone, rules + model) share of ``test`` routed to the service area it holds, as sync decides."""
    classifier = RuleClassifier(rules) if rules else None
    min_conf = rules.min_confidence if rules else 0.5
    texts = texts_of(test)
    regimes = test["regime"].astype(str).tolist() if "regime" in test else ["foia"] * len(test)
    truth = test["service_area"].astype(str).tolist()
    predicted = model.predict(texts)
    right_rules = right_both = 0
    for k, text in enumerate(texts):
        rule = classifier.classify(text, regimes[k]) if classifier else None
        rule_area = rule.service_area if rule and rule.confidence >= min_conf else None
        rule_conf = rule.confidence if rule else 0.0
        area, proba = predicted[k]
        both = area if proba > rule_conf and proba >= min_conf else rule_area
        right_rules += rule_area == truth[k]
        right_both += both == truth[k]
    n = max(1, len(texts))
    return right_rules / n, right_both / n


def _placeholder() -> ModelMeta:
    return ModelMeta(
        kind="routing",
        trained_on=0,
        held_back=0,
        split="",
        metrics={},
        usable=True,
        reason="evaluation in progress",
        fitted_on=0,
        library="",
    )
