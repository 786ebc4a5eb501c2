"""Cross-referencing a new request against everything received before.

- repeat (FOIA s.14(2)): same requester, substantially similar text, within ``repeat_window_days``;
- round robin: near-identical text from several different requesters (campaigns, WhatDoTheyKnow batches);
- aggregation (cost limit, Fees Regulations reg 5): same requester or campaign within 60 working days,
  asking for the same or similar information;
- answered before: an earlier, answered request already asked the question (consider s.21 / disclosure log).

One TF-IDF matrix (scikit-learn, sparse, L2-normalised) holds every request. Checking a request never scans the
whole matrix, so cross-referencing a register grows linearly with its size:

- the same requester's earlier requests come from that requester's rows, sorted by date, cut to the longest window
  a same-requester link can have (repeat or aggregation);
- everyone else's come from an exact prefix filter: a request whose cosine with the query reaches the threshold
  ``t`` must share at least one of the query's heaviest terms, chosen so that the weight left over is below ``t``
  (Cauchy-Schwarz on unit vectors: Bayardo, Ma and Srikant, "Scaling up all pairs similarity search", WWW 2007).
  Heavy terms are rare terms, so their posting lists are short.

Near-duplicates are then confirmed with rapidfuzz. Requesters are compared by a hash of their normalised email (or name, for WhatDoTheyKnow's
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
from scipy import sparse

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


def _most_similar(positions: np.ndarray, sims: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` most similar of ``positions`` with their similarities, still in date order."""
    if len(positions) <= n:
        return positions, sims
    top = np.argpartition(-sims, n - 1)[:n]
    top = top[np.argsort(positions[top], kind="stable")]
    return positions[top], sims[top]


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
        # Rows in date order: a posting list is then also in date order, and a time window is a slice of it.
        received = _utc_ns(frame["received_at"]) if len(frame) else np.zeros(0, dtype=np.int64)
        frame = frame.iloc[np.argsort(received, kind="stable")].reset_index(drop=True)
        self.references = frame["reference"].astype(str).to_numpy(object)
        self.position = {ref: i for i, ref in enumerate(self.references)}
        if "requester_key" in frame:
            self.keys = frame["requester_key"].astype(str).to_numpy(object)
        else:
            self.keys = np.array(
                [requester_key(n, e) for n, e in zip(frame["requester_name"], frame["requester_email"], strict=True)],
                dtype=object,
            )
        self.received = np.sort(received)
        # Each requester's rows in date order (positions are), so a query takes only the slice inside its window.
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
        self.matrix: sparse.csr_matrix | None = None
        self._postings: sparse.csc_matrix | None = None
        #: A query's vector spread over the vocabulary (reused, zeroed after each query): dot products by gathering.
        self._scratch = np.zeros(0, dtype=np.float32)
        if len(frame):
            try:
                self.matrix = sparse.csr_matrix(self.vectorizer.fit_transform(self.texts))
                self._postings = self.matrix.tocsc()
                self._postings.sort_indices()
            except ValueError:  # nothing but stop words: nothing to compare
                log.info("cross-reference index empty: no distinctive words in %d requests", len(frame))
        if self.matrix is not None:
            self._scratch = np.zeros(self.matrix.shape[1], dtype=np.float32)
        log.info("cross-reference index built over %d requests", len(frame))

    def __len__(self) -> int:
        return len(self.references)

    def similarities(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` to every indexed request (a full scan: for tools and tests, not the checks)."""
        if self.matrix is None:
            return np.zeros(0, dtype=np.float32)
        q = self.vectorizer.transform([text])
        return np.asarray((self.matrix @ q.T).toarray()).ravel()

    def _sims_at(self, q: sparse.csr_matrix, positions: np.ndarray) -> np.ndarray:
        """Cosine similarity of the query vector to the indexed rows at ``positions`` only (numpy gathers: a scipy
        product per query costs more in set-up than in arithmetic)."""
        assert self.matrix is not None
        if not len(positions):
            return np.zeros(0, dtype=np.float32)
        ptr, cols, vals = self.matrix.indptr, self.matrix.indices, self.matrix.data
        starts, ends = ptr[positions], ptr[positions + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        if not total:
            return np.zeros(len(positions), dtype=np.float32)
        # the flat index of every stored value of every chosen row, row after row
        offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        flat = np.arange(total) + offsets
        self._scratch[q.indices] = q.data
        try:
            products = vals[flat] * self._scratch[cols[flat]]
        finally:
            self._scratch[q.indices] = 0.0
        rows = np.repeat(np.arange(len(positions)), lengths)
        return np.bincount(rows, weights=products, minlength=len(positions)).astype(np.float32)

    def _candidates(
        self, q: sparse.csr_matrix, threshold: float, window: tuple[int, int] | None = None, near: int = 0
    ) -> np.ndarray:
        """Every row that can reach cosine ``threshold`` with ``q``: those sharing one of q's heaviest terms.

        Rows sharing none of the chosen terms have cosine at most the norm of q's remaining weights (both vectors
        have unit length), and the terms are chosen until that norm is below the threshold, so nothing is missed.
        ``window`` (first, last position) keeps the rows received in a time span; where one term's rows in it
        exceed ``options.max_candidates_per_term`` (a campaign of thousands of identical requests), the ones
        received nearest to position ``near`` are kept, so no query costs more than a bounded amount.
        """
        assert self._postings is not None
        weights = q.data
        if not len(weights):
            return np.zeros(0, dtype=np.int64)
        heaviest = np.argsort(-weights, kind="stable")
        left = np.r_[np.cumsum((weights[heaviest] ** 2)[::-1])[::-1], 0.0]  # left[k]: squared weight after k terms
        bound = (threshold - 1e-6) ** 2  # float32 rounding: take a term too many rather than miss a row
        k = int(np.argmax(left < bound))
        cap = self.options.max_candidates_per_term
        ptr, rows = self._postings.indptr, self._postings.indices
        found = []
        for t in q.indices[heaviest[:k]]:
            posting = rows[ptr[t] : ptr[t + 1]]  # ascending positions = date order
            if window is not None:
                posting = posting[np.searchsorted(posting, window[0]) : np.searchsorted(posting, window[1], "right")]
            if len(posting) > cap:
                mid = int(np.searchsorted(posting, near))
                a = min(max(0, mid - cap // 2), len(posting) - cap)
                posting = posting[a : a + cap]
            found.append(posting)
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)

    @property
    def _same_requester_days(self) -> int:
        """The longest look-back of a same-requester link: the repeat window, or the aggregation window (60 working
        days) with room for the bank holidays a working-day count may skip."""
        o = self.options
        return max(o.repeat_window_days, o.aggregation_calendar_days + 31)

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
        if self.matrix is None:
            return []
        when = pd.Timestamp(received_at)
        when_ns = int((when.tz_convert("UTC") if when.tzinfo else when.tz_localize("UTC")).value)
        self_pos = self.position.get(reference) if reference is not None else None
        q = self.matrix[self_pos] if self_pos is not None else sparse.csr_matrix(self.vectorizer.transform([text]))
        return self._related(q, text, key, when_ns, regime, self_pos)

    def _related(
        self, q: sparse.csr_matrix, text: str, key: str, when_ns: int, regime: str, self_pos: int | None
    ) -> list[RelatedRequest]:
        """Links for one request whose term vector is ``q``, received at ``when_ns`` (UTC nanoseconds)."""
        o = self.options
        day_ns = 86_400 * 10**9
        # The requester's own earlier requests (few) at a low bar, inside the longest same-requester window.
        mine = self.by_key.get(key, np.zeros(0, dtype=np.int64))
        times = self.received[mine]
        lo = int(np.searchsorted(times, when_ns - self._same_requester_days * day_ns, side="left"))
        hi = int(np.searchsorted(times, when_ns, side="right"))
        same_pos = mine[lo:hi]
        same_sims = self._sims_at(q, same_pos)
        keep = same_sims >= min(o.aggregation_threshold, o.repeat_threshold * 0.8)
        same_pos, same_sims = _most_similar(same_pos[keep], same_sims[keep], o.max_near_duplicates)
        # Everyone else's only when near-identical: the exact candidate filter, then the exact cosine.
        bar = min(o.answered_threshold, o.round_robin_threshold * 0.9)
        span = (
            int(np.searchsorted(self.received, when_ns - o.history_days * day_ns, side="left")),
            int(np.searchsorted(self.received, when_ns + o.round_robin_window_days * day_ns, side="right")) - 1,
        )
        here = self_pos if self_pos is not None else int(np.searchsorted(self.received, when_ns))
        other_pos = self._candidates(q, bar, span, here)
        other_pos = other_pos[self.keys[other_pos] != key]
        other_sims = self._sims_at(q, other_pos)
        keep = other_sims >= bar
        # a campaign: its most similar requests make the links
        other_pos, other_sims = _most_similar(other_pos[keep], other_sims[keep], o.max_near_duplicates)
        if self_pos is not None:
            keep = same_pos != self_pos
            same_pos, same_sims = same_pos[keep], same_sims[keep]
            keep = other_pos != self_pos
            other_pos, other_sims = other_pos[keep], other_sims[keep]
        # A subject access request is about the requester's own data: only the same requester's earlier SARs
        # relate to it, and nobody else's request answers it or joins a campaign with it.
        if regime == "sar":
            keep = self.regimes[same_pos] == "sar"
            other_pos, other_sims = other_pos[:0], other_sims[:0]
        else:
            keep = self.regimes[same_pos] != "sar"
            keep_other = self.regimes[other_pos] != "sar"
            other_pos, other_sims = other_pos[keep_other], other_sims[keep_other]
        same_pos, same_sims = same_pos[keep], same_sims[keep]
        if not len(same_pos) and not len(other_pos):
            return []
        links: dict[tuple[str, RelationKind], float] = {}

        # Round robin: near-identical text from several other requesters, close in time (either direction).
        other_delta = (when_ns - self.received[other_pos]) / day_ns
        rr = []
        for pos, cos in zip(
            other_pos[np.abs(other_delta) <= o.round_robin_window_days],
            other_sims[np.abs(other_delta) <= o.round_robin_window_days],
            strict=True,
        ):
            score = self._near(text, self.texts[pos], cos)
            if score >= o.round_robin_threshold:
                rr.append((pos, score))
        if len({self.keys[p] for p, _ in rr}) + 1 >= o.round_robin_min_requesters:
            for pos, score in rr:
                links[(self.references[pos], RelationKind.ROUND_ROBIN)] = score

        # Answered before: an earlier, answered request from someone else asked the same thing.
        for pos, cos in zip(other_pos[other_delta >= 0], other_sims[other_delta >= 0], strict=True):
            ref = self.references[pos]
            if self.answered[pos] and cos >= o.answered_threshold and (ref, RelationKind.ROUND_ROBIN) not in links:
                links[(ref, RelationKind.ANSWERED_BEFORE)] = round(float(cos), 3)

        # The same requester: a repeat (s.14(2)) when near-identical within the window, else perhaps aggregation.
        same_delta = (when_ns - self.received[same_pos]) / day_ns
        for pos, delta, cos in zip(same_pos, same_delta, same_sims, strict=True):
            ref = self.references[pos]
            near = self._near(text, self.texts[pos], cos) if cos >= o.repeat_threshold * 0.8 else float(cos)
            if near >= o.repeat_threshold and delta <= o.repeat_window_days:
                links[(ref, RelationKind.REPEAT)] = near
            elif cos >= o.aggregation_threshold and self._within_working_days(regime, int(self.received[pos]), when_ns):
                links[(ref, RelationKind.AGGREGATION)] = round(float(cos), 3)

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
        """Links for each row of ``frame`` (rows are usually also in the index, found by reference: their term
        vectors are the index's own rows; the others are vectorised in one call)."""
        if self.matrix is None or not len(frame):
            return [[] for _ in range(len(frame))]
        texts = _texts(frame)
        keys = _frame_keys(frame)
        when = _utc_ns(frame["received_at"])
        regimes = frame["regime"].astype(str).tolist()
        refs = frame["reference"].astype(str).tolist()
        at = [self.position.get(ref) for ref in refs]
        outside = [i for i, p in enumerate(at) if p is None]
        fresh = sparse.csr_matrix(self.vectorizer.transform([texts[i] for i in outside])) if outside else None
        row_of = {i: n for n, i in enumerate(outside)}
        out: list[list[RelatedRequest]] = []
        for i, pos in enumerate(at):
            if pos is not None:
                q = self.matrix[pos]
            else:
                assert fresh is not None
                q = fresh[row_of[i]]
            out.append(self._related(q, texts[i], keys[i], int(when[i]), regimes[i], pos))
        return out


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
