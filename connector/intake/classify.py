"""Routing: which service area and team should answer a request, with a confidence and the rule that fired.

Rules (``mappings/routing-rules.toml``) are keywords and regular expressions per service area, edited by the
CRM admin. When the council has enough labelled history (cases pulled back from the CRM with their service
area), a TF-IDF + logistic-regression model learned from it can back the rules up; whichever is more confident
wins, and the method is recorded so an officer can see why a case went where it did.

It also holds regime detection (:func:`detect_regime`): which law a request falls under from its wording, used by
normalisation when a source gives no regime and by triage when a request was sent under the wrong one.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector import tomlfile
from connector.errors import MappingError
from connector.model import FoiCase, Regime

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ regime detection

#: Wording that makes a request environmental (EIR reg 2(1): the state of the elements and measures affecting
#: them: air, water, soil, land use, waste, noise, wildlife, roads and planning).
ENVIRONMENTAL_WORDS = frozenset(
    [
        "pollution",
        "polluted",
        "polluting",
        "pollutant",
        "pollutants",
        "contamination",
        "contaminated",
        "emission",
        "emissions",
        "waste",
        "recycling",
        "recycle",
        "recycled",
        "landfill",
        "flood",
        "flooding",
        "floods",
        "drainage",
        "sewage",
        "sewer",
        "noise",
        "asbestos",
        "pesticide",
        "pesticides",
        "tree",
        "trees",
        "hedge",
        "hedges",
        "hedgerow",
        "hedgerows",
        "biodiversity",
        "wildlife",
        "habitat",
        "ecology",
        "ecological",
        "climate",
        "carbon",
        "highway",
        "highways",
        "pothole",
        "potholes",
        "roadworks",
        "traffic",
        "environment",
        "environmental",
        "fly-tipping",
        "flytipping",
        "fly-tipped",
        "litter",
    ]
)
ENVIRONMENTAL_PHRASES = (
    "air quality",
    "water quality",
    "tree preservation",
    "planning application",
    "planning permission",
    "land use",
    "road works",
    "fly tipping",
    "contaminated land",
)
#: Wording that makes a request a subject access request (the requester's own personal data).
PERSONAL_DATA_PHRASES = (
    "subject access",
    "dsar",
    "my personal data",
    "my data",
    "my own data",
    "my personal information",
    "my information",
    "my records",
    "my record",
    "my file",
    "my own file",
    "about me",
    "copies of my",
)
_PUNCTUATION = str.maketrans({c: " " for c in ".,;:!?()[]{}\"'/\n\t"})


def detect_regime(text: str) -> str | None:
    """'sar' for the requester's own data, 'eir' for environmental wording, else None (plain FOI): the value of
    :class:`~connector.model.Regime`, as a plain string because it lands in a text column of the intake frame.

    Plain substring and word-set checks rather than one large regular expression: this runs on every request
    that arrives without a type, and a million of them must take seconds, not minutes.
    """
    low = text.lower()
    if ("my " in low or "about me" in low or "subject access" in low or "dsar" in low) and any(
        p in low for p in PERSONAL_DATA_PHRASES
    ):
        return Regime.SAR.value
    if not ENVIRONMENTAL_WORDS.isdisjoint(low.translate(_PUNCTUATION).split()):
        return Regime.EIR.value
    if any(p in low for p in ENVIRONMENTAL_PHRASES):
        return Regime.EIR.value
    return None


class RoutingRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    service_area: str = Field(min_length=1, max_length=100)
    team: str | None = Field(default=None, max_length=100)
    #: Phrases matched case-insensitively on word boundaries in the subject and request text.
    keywords: list[str] = Field(default_factory=list)
    #: Python regular expressions (case-insensitive); a pattern hit counts double (it is more specific).
    patterns: list[str] = Field(default_factory=list)
    #: Limit the rule to some regimes (e.g. subject access goes to the data protection team).
    regimes: list[Regime] = Field(default_factory=list)
    weight: float = Field(default=1.0, gt=0, le=10)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression ({exc}); fix it") from None
        return value


class RoutingRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Below this confidence the rule's answer is recorded but the case is left for a person to route.
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    #: Labelled history needed per service area before a learned model is trained.
    model_min_per_class: int = Field(default=30, ge=5)
    rule: list[RoutingRule] = Field(default_factory=list)


def load_rules(path: Path) -> RoutingRules:
    data, text = tomlfile.read_toml(
        path, what="the routing rules", fix_path="set intake.rules to the routing file", error=MappingError
    )
    return tomlfile.validate(RoutingRules, data, path=path, text=text, error=MappingError)


@dataclass(frozen=True)
class Classification:
    service_area: str | None
    team: str | None
    confidence: float
    rule: str | None  # rule name, "model", or None when nothing matched
    method: str  # "source" (the register said), "rule", "model", "none"


class _Compiled:
    def __init__(self, rule: RoutingRule) -> None:
        self.rule = rule
        self.terms = [
            (kw, re.compile(r"(?i)\b" + re.escape(kw.strip()) + r"\b"), 1.0) for kw in rule.keywords if kw.strip()
        ]
        self.terms += [(p, re.compile(p, re.IGNORECASE), 2.0) for p in rule.patterns]
        self.regimes = {r.value for r in rule.regimes}
        # One compiled pattern for the whole rule: most texts match none of a rule's terms, and one search tells
        # so, instead of one search per term. Only texts it matches are scored term by term (distinct terms hit).
        alternatives = [f"(?:{rx.pattern})" for _, rx, _ in self.terms if not rx.pattern.startswith("(?i)")]
        alternatives += [f"(?:{rx.pattern[4:]})" for _, rx, _ in self.terms if rx.pattern.startswith("(?i)")]
        self.any_term: re.Pattern[str] | None = None
        try:
            self.any_term = re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None
        except re.error:  # a pattern that cannot sit in an alternation (e.g. its own global flags): no prefilter
            self.any_term = None

    def hits(self, text: str) -> float:
        if not self.terms or (self.any_term is not None and not self.any_term.search(text)):
            return 0.0
        return sum(w for _, rx, w in self.terms if rx.search(text))


class RuleClassifier:
    """Score = weight x (keyword hits + 2 x pattern hits); confidence = best / (best + runner-up + 1)."""

    def __init__(self, rules: RoutingRules) -> None:
        self.rules = rules
        self.compiled = [_Compiled(r) for r in rules.rule]

    def score(self, text: str, regime: str | None = None) -> list[tuple[float, _Compiled]]:
        scores = []
        for c in self.compiled:
            if c.regimes and regime not in c.regimes:
                continue
            hits = c.hits(text)
            if hits:
                scores.append((hits * c.rule.weight, c))
        scores.sort(key=lambda t: -t[0])
        return scores

    def classify(self, text: str, regime: str | None = None) -> Classification:
        scores = self.score(text, regime)
        if not scores:
            return Classification(None, None, 0.0, None, "none")
        best, top = scores[0]
        runner = scores[1][0] if len(scores) > 1 and scores[1][1].rule.service_area != top.rule.service_area else 0.0
        confidence = round(best / (best + runner + 1.0), 3)
        return Classification(top.rule.service_area, top.rule.team, confidence, top.rule.name, "rule")


class RoutingModel:
    """TF-IDF + logistic regression learned from the council's own routed history."""

    def __init__(self, pipeline: object, classes: Sequence[str], teams: dict[str, str | None], trained_on: int):
        self.pipeline = pipeline
        self.classes = list(classes)
        self.teams = teams
        self.trained_on = trained_on

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        areas: Sequence[str | None],
        teams: Sequence[str | None] | None = None,
        *,
        min_per_class: int = 30,
    ) -> RoutingModel | None:
        """A model when at least two service areas each have ``min_per_class`` labelled requests, else None."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        teams = teams or [None] * len(areas)
        counts = Counter(a for a in areas if a)
        keep_classes = {a for a, c in counts.items() if c >= min_per_class}
        if len(keep_classes) < 2:
            log.info(
                "routing model not trained: %d service areas have %d+ labelled requests",
                len(keep_classes),
                min_per_class,
            )
            return None
        rows = [(t, a, tm) for t, a, tm in zip(texts, areas, teams, strict=True) if a in keep_classes and t]
        team_votes: dict[str, Counter[str]] = {}
        for _, a, tm in rows:
            if tm:
                team_votes.setdefault(a, Counter())[tm] += 1
        pipeline = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, stop_words="english"),
            LogisticRegression(max_iter=1000, C=4.0),
        )
        pipeline.fit([r[0] for r in rows], [r[1] for r in rows])
        team_map = {a: (team_votes[a].most_common(1)[0][0] if a in team_votes else None) for a in keep_classes}
        log.info("routing model trained on %d requests across %d service areas", len(rows), len(keep_classes))
        return cls(pipeline, pipeline.classes_, team_map, len(rows))

    @classmethod
    def from_frame(cls, history: pd.DataFrame, *, min_per_class: int = 30) -> RoutingModel | None:
        """From a history frame with ``subject``, ``request_text``, ``service_area`` (and ``assigned_team``)."""
        texts = (history["subject"].fillna("") + "\n" + history["request_text"].fillna("")).tolist()
        teams = history["assigned_team"].tolist() if "assigned_team" in history else None
        return cls.train(
            texts,
            history["service_area"].where(history["service_area"].notna(), None).tolist(),
            teams,
            min_per_class=min_per_class,
        )

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        proba = self.pipeline.predict_proba(list(texts))  # type: ignore[attr-defined]
        best = np.argmax(proba, axis=1)
        return [(self.classes[i], float(proba[k, i])) for k, i in enumerate(best)]


class LearnedRouter(Protocol):
    """A routing model as classify_frame uses it: this one, or the JSON-persisted one of connector/learn."""

    teams: dict[str, str | None]

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]: ...


def classify_frame(frame: pd.DataFrame, rules: RoutingRules | None, model: LearnedRouter | None = None) -> pd.DataFrame:
    """Route every row. Returns columns service_area, assigned_team, route_confidence, route_rule, route_method.

    A service area given by the source is kept (method "source"); the rule or model answer fills only the gaps,
    and only at or above ``min_confidence``.
    """
    n = len(frame)
    given_area = frame["service_area"].astype(object).where(frame["service_area"].notna(), None).tolist()
    given_team = frame["assigned_team"].astype(object).where(frame["assigned_team"].notna(), None).tolist()
    todo = [k for k in range(n) if not given_area[k]]  # a service area from the source is never second-guessed
    subjects = frame["subject"].fillna("").astype(str).tolist()
    bodies = frame["request_text"].fillna("").astype(str).tolist()
    texts = {k: f"{subjects[k]}\n{bodies[k]}" for k in todo}
    regimes = frame["regime"].astype(str).tolist()
    classifier = RuleClassifier(rules) if rules else None
    min_conf = rules.min_confidence if rules else 0.5
    nothing = Classification(None, None, 0.0, None, "none")
    results: list[Classification] = [nothing] * n
    if classifier is not None:
        for k in todo:
            results[k] = classifier.classify(texts[k], regimes[k])
    if model is not None and todo:
        for k, (area, proba) in zip(todo, model.predict([texts[k] for k in todo]), strict=True):
            if proba > results[k].confidence:
                results[k] = Classification(area, model.teams.get(area), round(proba, 3), "model", "model")
    areas, teams, conf, method = [], [], [], []
    rule: list[str | None] = []
    for k, res in enumerate(results):
        if given_area[k]:
            areas.append(given_area[k])
            teams.append(given_team[k])
            conf.append(1.0)
            rule.append(None)
            method.append("source")
        elif res.service_area and res.confidence >= min_conf:
            areas.append(res.service_area)
            teams.append(given_team[k] or res.team)
            conf.append(res.confidence)
            rule.append(res.rule)
            method.append(res.method)
        else:
            areas.append(None)
            teams.append(given_team[k])
            conf.append(res.confidence)
            rule.append(res.rule)
            method.append("unrouted" if res.service_area else "none")
    return pd.DataFrame(
        {
            "service_area": areas,
            "assigned_team": teams,
            "route_confidence": conf,
            "route_rule": rule,
            "route_method": method,
        },
        index=frame.index,
    )


def history_from_cases(cases: Iterable[FoiCase]) -> pd.DataFrame:
    """A history frame from FoiCase objects (e.g. pulled back from the CRM) for :meth:`RoutingModel.from_frame`."""
    rows = [
        {
            "subject": c.subject,
            "request_text": c.request_text,
            "service_area": c.service_area,
            "assigned_team": c.assigned_team,
        }
        for c in cases
    ]
    return pd.DataFrame(rows, columns=["subject", "request_text", "service_area", "assigned_team"])
