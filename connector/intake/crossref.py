"""Cross-referencing a new request against everything received before.

- repeat (FOIA s.14(2)): same requester, substantially similar text, within ``repeat_window_days``;
- round robin: near-identical text from several different requesters (campaigns, WhatDoTheyKnow batches);
- aggregation (cost limit, Fees Regulations reg 5): same requester or campaign within 60 working days,
  asking for the same or similar information;
- answered before: an earlier, answered request already asked the question (consider s.21 / disclosure log).

One TF-IDF matrix (scikit-learn, sparse, L2-normalised) holds every request; checking a new one is a single
sparse product against it (milliseconds for 100,000 requests), and near-duplicates are confirmed with
rapidfuzz. Requesters are compared by a hash of their normalised email (or name, for WhatDoTheyKnow's
per-request addresses), never by the raw values, so nothing personal is held in the index.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd
from rapidfuzz import fuzz

from connector.intake.history import CrmHistory
from connector.intake.history import CrossRefOptions as CrossRefOptions  # re-exported: callers configure crossref here
from connector.model import ANSWERED_STAGES as _ANSWERED
from connector.model import CLOSED_STAGES, RelatedRequest, RelationKind

log = logging.getLogger(__name__)

CLOSED_STAGE_VALUES = [s.value for s in CLOSED_STAGES]
#: Finished with an answer (withdrawn / lapsed requests answered nothing), from the model.
ANSWERED_STAGES = [s.value for s in _ANSWERED]
ANSWERED_OUTCOMES = {"granted_in_full", "partially_withheld"}


def requester_key(name: object, email: object) -> str:
    """A stable, non-reversible handle for "the same requester": email, or name for WhatDoTheyKnow addresses."""
    e = str(email).strip().lower() if isinstance(email, str) and email.strip() else ""
    if e and not e.endswith("@whatdotheyknow.com"):
        basis = "e:" + e
    elif isinstance(name, str) and name.strip():
        basis = "n:" + " ".join(name.casefold().split())
    else:
        basis = "?"
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def _frame_keys(frame: pd.DataFrame) -> list[str]:
    """Each row's requester handle: the precomputed ``requester_key`` column, or hashed from name and email."""
    if "requester_key" in frame:
        return frame["requester_key"].astype(str).tolist()
    return [requester_key(n, e) for n, e in zip(frame["requester_name"], frame["requester_email"], strict=True)]


def _texts(frame: pd.DataFrame) -> list[str]:
    return (frame["subject"].fillna("").astype(str) + "\n" + frame["request_text"].fillna("").astype(str)).tolist()


def _answered(frame: pd.DataFrame) -> np.ndarray:
    answered = np.zeros(len(frame), dtype=bool)
    if "responded_at" in frame:
        answered |= frame["responded_at"].notna().to_numpy(bool)
    if "stage" in frame:
        answered |= frame["stage"].isin(ANSWERED_STAGES).to_numpy(bool)
    if "outcome" in frame:
        # an answer that released nothing (refused, not held) did not answer the question for anyone else
        outcome = frame["outcome"].astype(object)
        answered &= outcome.isna().to_numpy(bool) | outcome.isin(ANSWERED_OUTCOMES).to_numpy(bool)
    return answered


def _utc_ns(values: pd.Series) -> np.ndarray:
    s = pd.to_datetime(values, utc=True)
    return s.dt.tz_localize(None).to_numpy("datetime64[ns]").astype(np.int64)


class CrossRefIndex:
    """Every known request in one sparse TF-IDF matrix, plus requester hashes, dates and answered flags."""

    def __init__(
        self,
        frame: pd.DataFrame,
        options: CrossRefOptions | None = None,
        working_days: Callable[[str, date, date], int] | None = None,
    ) -> None:
        """``frame`` needs reference, subject, request_text, received_at, regime and requester_name/email (or a
        precomputed ``requester_key``). ``working_days(regime, start, end)`` counts working days for the
        aggregation window; without it, 60 working days is approximated as 84 calendar days."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.options = options or CrossRefOptions()
        self.working_days = working_days
        frame = frame.reset_index(drop=True)
        self.references = frame["reference"].astype(str).to_numpy(object)
        self.position = {ref: i for i, ref in enumerate(self.references)}
        if "requester_key" in frame:
            self.keys = frame["requester_key"].astype(str).to_numpy(object)
        else:
            self.keys = np.array(
                [requester_key(n, e) for n, e in zip(frame["requester_name"], frame["requester_email"], strict=True)],
                dtype=object,
            )
        self.received = _utc_ns(frame["received_at"])
        order = np.argsort(self.keys, kind="stable")
        bounds = np.flatnonzero(np.r_[True, self.keys[order][1:] != self.keys[order][:-1], True])
        self.by_key = {self.keys[order[a]]: order[a:b] for a, b in itertools.pairwise(bounds)} if len(order) else {}
        self.regimes = frame["regime"].astype(str).to_numpy(object)
        self.answered = _answered(frame)
        self.texts = _texts(frame)
        self.vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            ngram_range=(1, 2),
            min_df=1,
            max_df=0.6 if len(frame) >= 20 else 1.0,  # words in most requests say nothing about which
            stop_words="english",
            dtype=np.float32,
        )
        self.matrix = None
        if len(frame):
            try:
                self.matrix = self.vectorizer.fit_transform(self.texts).tocsr()
            except ValueError:  # nothing but stop words: nothing to compare
                log.info("cross-reference index empty: no distinctive words in %d requests", len(frame))
        log.info("cross-reference index built over %d requests", len(frame))

    def __len__(self) -> int:
        return len(self.references)

    def similarities(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` to every indexed request."""
        if self.matrix is None:
            return np.zeros(0, dtype=np.float32)
        q = self.vectorizer.transform([text])
        return np.asarray((self.matrix @ q.T).toarray()).ravel()

    def _near(self, a: str, b: str, cosine: float) -> float:
        """Blend TF-IDF cosine with rapidfuzz's token-set ratio: both must agree for a near-duplicate."""
        return round(0.5 * float(cosine) + 0.5 * fuzz.token_set_ratio(a, b) / 100.0, 3)

    def _within_working_days(self, regime: str, earlier_ns: int, later_ns: int) -> bool:
        start = pd.Timestamp(earlier_ns, tz="UTC").tz_convert("Europe/London").date()
        end = pd.Timestamp(later_ns, tz="UTC").tz_convert("Europe/London").date()
        if self.working_days is None:
            return (end - start).days <= self.options.aggregation_calendar_days
        try:
            return self.working_days(regime, start, end) <= self.options.aggregation_working_days
        except ValueError:
            return False

    def related(
        self,
        text: str,
        key: str,
        received_at: pd.Timestamp,
        regime: str = "foia",
        reference: str | None = None,
    ) -> list[RelatedRequest]:
        """Links for one request (which may or may not be in the index itself)."""
        o = self.options
        sims = self.similarities(text)
        if not len(sims):
            return []
        self_pos = self.position.get(reference) if reference is not None else None
        # The requester's own earlier requests (few) at a low bar; everyone else's only when near-identical.
        same_pos = self.by_key.get(key, np.zeros(0, dtype=np.int64))
        same_pos = same_pos[sims[same_pos] >= min(o.aggregation_threshold, o.repeat_threshold * 0.8)]
        other_pos = np.flatnonzero(sims >= min(o.answered_threshold, o.round_robin_threshold * 0.9))
        other_pos = other_pos[self.keys[other_pos] != key]
        if self_pos is not None:
            same_pos = same_pos[same_pos != self_pos]
            other_pos = other_pos[other_pos != self_pos]
        # A subject access request is about the requester's own data: only the same requester's earlier SARs
        # relate to it, and nobody else's request answers it or joins a campaign with it.
        if regime == "sar":
            same_pos = same_pos[self.regimes[same_pos] == "sar"]
            other_pos = other_pos[:0]
        else:
            same_pos = same_pos[self.regimes[same_pos] != "sar"]
            other_pos = other_pos[self.regimes[other_pos] != "sar"]
        if not len(same_pos) and not len(other_pos):
            return []
        when = pd.Timestamp(received_at)
        when_ns = (when.tz_convert("UTC") if when.tzinfo else when.tz_localize("UTC")).value
        day_ns = 86_400 * 10**9
        links: dict[tuple[str, RelationKind], float] = {}

        # Round robin: near-identical text from several other requesters, close in time (either direction).
        other_delta = (when_ns - self.received[other_pos]) / day_ns
        rr = []
        for pos in other_pos[np.abs(other_delta) <= o.round_robin_window_days]:
            score = self._near(text, self.texts[pos], sims[pos])
            if score >= o.round_robin_threshold:
                rr.append((pos, score))
        if len({self.keys[p] for p, _ in rr}) + 1 >= o.round_robin_min_requesters:
            for pos, score in rr:
                links[(self.references[pos], RelationKind.ROUND_ROBIN)] = score

        # Answered before: an earlier, answered request from someone else asked the same thing.
        for pos in other_pos[other_delta >= 0]:
            ref = self.references[pos]
            if (
                self.answered[pos]
                and sims[pos] >= o.answered_threshold
                and (ref, RelationKind.ROUND_ROBIN) not in links
            ):
                links[(ref, RelationKind.ANSWERED_BEFORE)] = round(float(sims[pos]), 3)

        # The same requester: a repeat (s.14(2)) when near-identical within the window, else perhaps aggregation.
        same_delta = (when_ns - self.received[same_pos]) / day_ns
        for pos, delta in zip(same_pos[same_delta >= 0], same_delta[same_delta >= 0], strict=True):
            ref = self.references[pos]
            cos = float(sims[pos])
            near = self._near(text, self.texts[pos], cos) if cos >= o.repeat_threshold * 0.8 else cos
            if near >= o.repeat_threshold and delta <= o.repeat_window_days:
                links[(ref, RelationKind.REPEAT)] = near
            elif cos >= o.aggregation_threshold and self._within_working_days(regime, int(self.received[pos]), when_ns):
                links[(ref, RelationKind.AGGREGATION)] = round(cos, 3)

        # A campaign (round robin) is aggregated for the cost limit too, when within 60 working days.
        for (ref, kind), score in list(links.items()):
            if kind is RelationKind.ROUND_ROBIN:
                pos = self.position[ref]
                if self.received[pos] <= when_ns and self._within_working_days(
                    regime, int(self.received[pos]), when_ns
                ):
                    links.setdefault((ref, RelationKind.AGGREGATION), score)

        by_kind: dict[RelationKind, list[RelatedRequest]] = {}
        for (ref, kind), score in links.items():
            by_kind.setdefault(kind, []).append(
                RelatedRequest(reference=str(ref), relation=kind, score=min(1.0, max(0.0, float(score))))
            )
        out: list[RelatedRequest] = []
        for kind in RelationKind:
            out += sorted(by_kind.get(kind, []), key=lambda r: (-r.score, r.reference))[: o.max_links]
        return out

    def related_for_frame(self, frame: pd.DataFrame) -> list[list[RelatedRequest]]:
        """Links for each row of ``frame`` (rows are usually also in the index, found by reference)."""
        texts = _texts(frame)
        keys = _frame_keys(frame)
        received = pd.to_datetime(frame["received_at"], utc=True)
        return [
            self.related(t, k, r, g, ref)
            for t, k, r, g, ref in zip(
                texts, keys, received, frame["regime"].astype(str), frame["reference"].astype(str), strict=True
            )
        ]


def crossref_frame(
    frame: pd.DataFrame,
    history: pd.DataFrame | None = None,
    options: CrossRefOptions | None = None,
    working_days: Callable[[str, date, date], int] | None = None,
    crm: CrmHistory | None = None,
) -> list[list[RelatedRequest]]:
    """Links for every open row of ``frame`` against ``history`` plus the rows of ``frame`` itself (closed rows: []),
    and, with ``crm``, against every earlier request the CRM holds (the pull's persisted index)."""
    links = _crossref_frame(frame, history, options, working_days)
    if crm is None or not len(frame):
        return links
    o = options or CrossRefOptions()
    exclude = frozenset(frame["reference"].astype(str))
    if "stage" in frame:
        query = ~frame["stage"].isin(CLOSED_STAGE_VALUES).to_numpy(bool)
    else:
        query = np.ones(len(frame), dtype=bool)
    if not query.any():
        return links
    texts = _texts(frame)
    keys = _frame_keys(frame)
    received = pd.to_datetime(frame["received_at"], utc=True)
    regimes = frame["regime"].astype(str).tolist()
    for pos in np.flatnonzero(query):
        mine = links[pos]
        rr = sum(1 for r in mine if r.relation is RelationKind.ROUND_ROBIN)
        found = crm.related(
            texts[pos], keys[pos], received.iloc[pos], regimes[pos], exclude=exclude, options=o, also_round_robin=rr
        )
        if found:
            links[pos] = _merge(mine, found, o.max_links)
    return links


def _merge(a: list[RelatedRequest], b: list[RelatedRequest], max_links: int) -> list[RelatedRequest]:
    """Today's links and the CRM's, one per (reference, relation), in the model's kind order, best first."""
    best: dict[tuple[str, RelationKind], RelatedRequest] = {}
    for r in [*a, *b]:
        k = (r.reference, r.relation)
        if k not in best or r.score > best[k].score:
            best[k] = r
    out: list[RelatedRequest] = []
    for kind in RelationKind:
        out += sorted((r for r in best.values() if r.relation is kind), key=lambda r: (-r.score, r.reference))[
            :max_links
        ]
    return out


def _crossref_frame(
    frame: pd.DataFrame,
    history: pd.DataFrame | None = None,
    options: CrossRefOptions | None = None,
    working_days: Callable[[str, date, date], int] | None = None,
) -> list[list[RelatedRequest]]:
    cols = ["reference", "subject", "request_text", "received_at", "regime"]
    extra = [c for c in ("responded_at", "stage", "outcome") if c in frame]

    def keyed(df: pd.DataFrame) -> pd.DataFrame:
        if "requester_key" in df:
            return df[[*cols, *[c for c in extra if c in df], "requester_key"]]
        keys = [requester_key(n, e) for n, e in zip(df["requester_name"], df["requester_email"], strict=True)]
        return df[[*cols, *[c for c in extra if c in df]]].assign(requester_key=keys)

    options = options or CrossRefOptions()
    current = keyed(frame)
    # Closed cases are history: they are indexed (an answered request can answer a new one) but not checked
    # themselves, so loading a ten-year register does not cross-check every old request against every other.
    if "stage" in frame:
        query = ~frame["stage"].isin(CLOSED_STAGE_VALUES).to_numpy(bool)
    else:
        query = np.ones(len(frame), dtype=bool)
    links: list[list[RelatedRequest]] = [[] for _ in range(len(frame))]
    if not query.any():
        return links
    parts = [current]
    if history is not None and len(history):
        hist = keyed(history)
        parts.insert(0, hist[~hist["reference"].isin(set(frame["reference"]))])
    combined = pd.concat(parts, ignore_index=True) if len(parts) > 1 else current
    received = pd.to_datetime(combined["received_at"], utc=True)
    oldest = pd.to_datetime(current.loc[query, "received_at"], utc=True).min()
    combined = combined.loc[(received >= oldest - pd.Timedelta(days=options.history_days)).to_numpy(bool)]
    index = CrossRefIndex(combined, options, working_days)
    positions = np.flatnonzero(query)
    for pos, found in zip(positions, index.related_for_frame(current.iloc[positions]), strict=True):
        links[pos] = found
    return links
