"""Learned time to respond: working days from receipt to response, from the CRM's closed cases.

Features: regime, service area, channel, requester type, the request's words and its number of questions
(:mod:`connector.learn.features`); a ridge regression on them. It is judged on the most recent closed cases, held
back from training, against a plain baseline: the median working days of the case's service area in the training
cases (the overall median for an area it has not seen). It is usable only when its mean absolute error beats the
baseline's by at least ``MIN_GAIN``; otherwise the file says so, with the reason, and the grade does not use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from connector.intake.grade import Estimate
from connector.learn.features import CaseFeatures, held_back_split
from connector.learn.model_file import ModelFile, ModelMeta

#: The model must make at least 5% less error than the baseline to be used.
MIN_GAIN = 0.05
RIDGE_ALPHA = 1.0
#: Predictions are kept within what a response can take (a SAR extended by two months is about 60 working days).
MAX_DAYS = 120.0

WorkingDays = Callable[[str, date, date], int]


def closed_history(frame: pd.DataFrame, working_days: WorkingDays) -> pd.DataFrame:
    """Closed cases with a received and a responded date, with ``days`` (working days to respond) added."""
    if frame.empty:
        return frame.assign(days=pd.Series(dtype="float64"))
    done = frame[frame["received_date"].notna() & frame["responded_date"].notna()].copy()
    done["days"] = [
        float(working_days(str(r), pd.Timestamp(a).date(), pd.Timestamp(b).date()))
        for r, a, b in zip(done["regime"].fillna("foia"), done["received_date"], done["responded_date"], strict=True)
    ]
    return done[done["days"] >= 0].reset_index(drop=True)


@dataclass
class Baseline:
    by_area: dict[str, float]
    overall: float

    @classmethod
    def fit(cls, train: pd.DataFrame) -> Baseline:
        areas = train["service_area"].fillna("(none)").astype(str)
        by_area = {str(a): float(v) for a, v in train["days"].groupby(areas).median().items()}
        return cls(by_area, float(train["days"].median()))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        areas = frame["service_area"].fillna("(none)").astype(str)
        return np.array([self.by_area.get(a, self.overall) for a in areas], dtype=np.float64)


class TimeModel:
    """Ridge regression over :class:`CaseFeatures`; predicts with numpy alone (no fitted object is kept)."""

    def __init__(self, features: CaseFeatures, coef: np.ndarray, intercept: float, meta: ModelMeta) -> None:
        self.features = features
        self.coef = coef
        self.intercept = intercept
        self.meta = meta

    @staticmethod
    def _fit(train: pd.DataFrame) -> tuple[CaseFeatures, np.ndarray, float]:
        from sklearn.linear_model import Ridge

        features = CaseFeatures.fit(train)
        ridge = Ridge(alpha=RIDGE_ALPHA)
        ridge.fit(features.transform(train), train["days"].to_numpy(np.float64))
        return features, np.asarray(ridge.coef_, dtype=np.float64), float(ridge.intercept_)

    @classmethod
    def train(cls, history: pd.DataFrame, *, held_back: float = 0.2, min_cases: int = 40) -> TimeModel:
        """Evaluate on the held-back cases, then refit on all of them. ``history`` has a ``days`` column."""
        import sklearn

        n = len(history)
        split = f"the most recent {held_back:.0%} of closed cases by date received"
        if n < min_cases:
            meta = ModelMeta(
                kind="time_to_respond",
                trained_on=n,
                held_back=0,
                split=split,
                metrics={},
                usable=False,
                reason=f"only {n} closed cases with received and response dates; at least {min_cases} are needed",
                fitted_on=0,
                library=f"scikit-learn {sklearn.__version__}",
            )
            return cls(CaseFeatures.fit(history.iloc[:0]), np.zeros(0), 0.0, meta)
        train, test = held_back_split(history, held_back)
        features, coef, intercept = cls._fit(train)
        trial = cls(features, coef, intercept, _placeholder())
        truth = test["days"].to_numpy(np.float64)
        mae_model = float(np.mean(np.abs(trial.predict(test) - truth)))
        mae_base = float(np.mean(np.abs(Baseline.fit(train).predict(test) - truth)))
        usable = mae_model <= mae_base * (1 - MIN_GAIN)
        if usable:
            reason = (
                f"beats the baseline: {mae_model:.2f} working days mean absolute error against {mae_base:.2f} "
                f"(median per service area) on {len(test)} held-back cases"
            )
        else:
            reason = (
                f"does not beat the baseline: {mae_model:.2f} working days mean absolute error against {mae_base:.2f} "
                f"(median per service area) on {len(test)} held-back cases; it needs to be at least "
                f"{MIN_GAIN:.0%} lower, so the grade does not use it"
            )
        meta = ModelMeta(
            kind="time_to_respond",
            trained_on=len(train),
            held_back=len(test),
            split=split,
            metrics={"mae_model": round(mae_model, 4), "mae_baseline": round(mae_base, 4)},
            usable=usable,
            reason=reason,
            fitted_on=n if usable else len(train),
            library=f"scikit-learn {sklearn.__version__}",
        )
        if usable:
            features, coef, intercept = cls._fit(history)
        return cls(features, coef, intercept, meta)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if len(frame) == 0 or self.coef.size == 0:
            return np.full(len(frame), np.nan)
        raw = self.features.transform(frame) @ self.coef + self.intercept
        return np.clip(np.asarray(raw, dtype=np.float64).ravel(), 0.0, MAX_DAYS)

    def estimate(self, frame: pd.DataFrame) -> list[Estimate | None]:
        """For the grade: one estimate per row, with the reason in an officer's words."""
        if not self.meta.usable or len(frame) == 0:
            return [None] * len(frame)
        days = self.predict(frame)
        areas = frame["service_area"].tolist() if "service_area" in frame else [None] * len(frame)
        out: list[Estimate | None] = []
        for d, area in zip(days, areas, strict=True):
            who = f"similar requests to {area}" if isinstance(area, str) and area else "similar requests"
            out.append(
                Estimate(
                    float(d),
                    f"{who} took about {round(float(d))} working days (learned from {self.meta.fitted_on} closed cases)",
                )
            )
        return out

    def to_file(self) -> ModelFile:
        params = {"features": self.features.params(), "coef": self.coef.tolist(), "intercept": self.intercept}
        return ModelFile(meta=self.meta, params=params)

    @classmethod
    def from_file(cls, model: ModelFile) -> TimeModel:
        p: dict[str, Any] = model.params
        return cls(
            CaseFeatures.from_params(p["features"]),
            np.asarray(p["coef"], dtype=np.float64),
            float(p["intercept"]),
            model.meta,
        )


def _placeholder() -> ModelMeta:
    return ModelMeta(
        kind="time_to_respond",
        trained_on=0,
        held_back=0,
        split="",
        metrics={},
        usable=True,
        reason="evaluation in progress",
        fitted_on=0,
        library="",
    )
