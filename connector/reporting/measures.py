"""Compliance measures from the reporting store's frame, counted the way FOI officers and the ICO count them.

Everything is vectorised pandas/numpy so a 100,000-case report takes well under a second here. Working days use
the deadlines engine's calendars (``engine.calendar(regime)``): the holidays in the date span are read from
the calendar once per regime and handed to ``numpy.busday_count``. Missing due dates are filled with
``engine.compute_frame``. No holiday rules are written here.

Scope rules (stated in the "about" table of every report):
- a request belongs to the period in which it was received (Cabinet Office practice);
- Cabinet Office measures and the ICO 90% threshold count FOI and EIR requests (FOIA, EIR, FOISA, EISR);
  subject access requests appear in volumes and in their own rows;
- open caseload, due-soon and overdue lists are as at ``today`` and include every open case, whatever its
  period, because an overdue case stays overdue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from connector import model
from connector.model import Stage
from connector.reporting import categories as C
from connector.reporting.periods import Period, make_period

if TYPE_CHECKING:  # the engine is built lazily (_default_engine) so importing reports stays cheap
    from connector.deadlines.calendar import WorkingCalendar
    from connector.deadlines.engine import DeadlineEngine

log = logging.getLogger(__name__)

# Stage vocabularies from the model, as plain strings (pandas matches str values, not enum members).
ON_HOLD_STAGES = sorted(s.value for s in model.ON_HOLD_STAGES)
PAUSED_STAGES = sorted(s.value for s in model.PAUSED_STAGES)
FINISHED_STAGES = sorted(s.value for s in model.FINISHED_STAGES)

# Timeliness status codes per case.
T_MET, T_EXT, T_LATE, T_NOT_DUE, T_ON_HOLD, T_UNKNOWN = "met", "ext", "late", "not_yet_due", "on_hold", "unknown"

# -- working days ------------------------------------------------------------------------------------------


class WorkingDays:
    """Vectorised working-day counts using the deadlines engine's calendar for each regime.

    Uses the calendar's ``busdaycal`` (numpy business-day calendar) when it has one; otherwise reads the
    non-working weekdays of the years spanned from ``is_working_day`` once, and caches them.
    """

    def __init__(self, engine: DeadlineEngine) -> None:
        self.engine = engine
        self._calendars: dict[str, WorkingCalendar] = {}

    def calendar(self, regime: str) -> WorkingCalendar:
        if regime not in self._calendars:
            from connector.model import Regime

            try:
                self._calendars[regime] = self.engine.calendar(Regime(regime))
            except (ValueError, KeyError, TypeError):
                self._calendars[regime] = self.engine.calendar(Regime.FOIA)
        return self._calendars[regime]

    def between(self, start: pd.Series, end: pd.Series, regime: pd.Series) -> pd.Series:
        """Working days after ``start`` up to and including ``end`` (WorkingCalendar.working_days_between)."""
        out = pd.Series(np.nan, index=start.index, dtype="float64")
        ok = start.notna() & end.notna()
        if not ok.any():
            return out
        regimes = regime[ok].fillna("foia")
        one = np.timedelta64(1, "D")
        for reg, idx in regimes.groupby(regimes).groups.items():
            s = start.loc[idx].to_numpy().astype("datetime64[D]")
            e = end.loc[idx].to_numpy().astype("datetime64[D]")
            bdc = self.calendar(str(reg)).busdaycal
            # numpy counts a reversed range differently from the calendar; count forwards, then sign it.
            lo, hi = np.minimum(s, e), np.maximum(s, e)
            count = np.busday_count(lo + one, hi + one, busdaycal=bdc)
            out.loc[idx] = np.where(e < s, -count, count).astype("float64")
        return out


def _default_engine() -> DeadlineEngine:
    from connector.deadlines import DeadlineEngine

    return DeadlineEngine()


# -- preparation ------------------------------------------------------------------------------------------


def _fill_due_dates(df: pd.DataFrame, engine: DeadlineEngine) -> pd.DataFrame:
    """Compute due dates the CRM did not hold (the CRM's own dates win when present)."""
    need = df["received_date"].notna() & (
        df["due_date"].isna() | (df["extension"].notna() & df["extended_due_date"].isna())
    )
    if not need.any():
        return df
    sub = df.loc[need]
    inp = pd.DataFrame(
        {
            "regime": sub["regime"].fillna("foia").astype(str),
            "received_at": sub["received_date"].dt.tz_localize("Europe/London") + pd.Timedelta(hours=12),
            "clarification_received": sub["clarification_received_date"].dt.date,
            "fee_notice": sub["fee_notice_date"].dt.date,
            "fee_paid": sub["fee_paid_date"].dt.date,
            "extension": sub["extension"],
        },
        index=sub.index,
    )
    try:
        got = engine.compute_frame(inp)
    except Exception as exc:  # the engine names the bad column; reports still run without the fill
        log.warning("could not compute %d missing due dates: %s", int(need.sum()), exc)
        return df
    df = df.copy()
    for src, dst in (("due", "due_date"), ("extended_due", "extended_due_date")):
        if src in got.columns:
            values = pd.to_datetime(got[src], errors="coerce").astype("datetime64[ns]")
            df.loc[need, dst] = df.loc[need, dst].fillna(values.reindex(sub.index))
    log.info("computed %d due dates the CRM did not hold", int(need.sum()))
    return df


def prepare(frame: pd.DataFrame, today: date, engine: DeadlineEngine, wd: WorkingDays | None = None) -> pd.DataFrame:
    """Per-case derived columns every measure uses (status, timeliness, working-day durations)."""
    wd = wd or WorkingDays(engine)
    df = _fill_due_dates(frame, engine)
    df = df.copy()
    regime = df["regime"].fillna("foia")
    stage = df["stage"].fillna("received")
    today_ts = pd.Timestamp(today)

    df["regime_label"] = regime.map(C.REGIME_LABELS).fillna(regime.str.upper())
    df["is_info"] = regime.isin(C.INFO_REGIMES)
    df["on_hold"] = stage.isin(ON_HOLD_STAGES)
    df["processed"] = df["responded_date"].notna() & ~df["on_hold"]
    # An extended due date implies an extension; name it from the regime when the CRM does not say.
    implied = regime.map({"foia": "pit", "eir": "eir", "eisr": "eir", "sar": "sar"})
    df["extension"] = df["extension"].where(df["extension"].notna() | df["extended_due_date"].isna(), implied)
    extended = df["extended_due_date"].notna()
    df["effective_due"] = df["extended_due_date"].where(extended, df["due_date"])

    resp, due, eff = df["responded_date"], df["due_date"], df["effective_due"]
    conditions = [
        df["on_hold"],
        df["processed"] & (resp <= due),
        df["processed"] & extended & (resp <= df["extended_due_date"]),
        df["processed"] & due.notna(),
        ~df["processed"] & eff.notna() & (eff < today_ts),
        ~df["processed"] & eff.notna(),
    ]
    choices = [T_ON_HOLD, T_MET, T_EXT, T_LATE, T_LATE, T_NOT_DUE]
    df["timeliness"] = np.select(conditions, choices, default=T_UNKNOWN)

    # Working days to respond, from the clock start (clarification received restarts the clock).
    clock_start = df["clarification_received_date"].where(
        df["clarification_received_date"].notna(), df["received_date"]
    )
    df["wd_to_respond"] = wd.between(clock_start, resp.where(df["processed"]), regime)
    # PIT extension duration: working days taken beyond the 20-day deadline.
    pit = (df["extension"] == "pit") & df["processed"]
    pit_days = wd.between(due.where(pit), resp.where(pit), regime)
    df["pit_days"] = pit_days.clip(lower=0)
    # Internal review duration: request for review -> review completed.
    df["ir_days"] = wd.between(df["review_requested_date"], df["review_completed_date"], regime)
    return df


# -- helpers ------------------------------------------------------------------------------------------------


def _pct(num: float, den: float) -> float:
    return round(100.0 * num / den, 1) if den else float("nan")


def _flag(pct: float) -> str:
    if pd.isna(pct):
        return "n/a"
    return "Yes" if pct >= C.ICO_THRESHOLD else "No"


def _timeliness_row(t: pd.Series) -> dict[str, Any]:
    counts = t.value_counts()
    met, ext, late = (int(counts.get(k, 0)) for k in (T_MET, T_EXT, T_LATE))
    den = met + ext + late
    pct_in_time = _pct(met + ext, den)
    return {
        C.TOTAL: len(t),
        C.ON_HOLD: int(counts.get(T_ON_HOLD, 0)),
        C.TOTAL_EXCL: int(len(t) - counts.get(T_ON_HOLD, 0)),
        C.MET: met,
        C.EXTENDED: ext,
        C.LATE: late,
        C.NOT_YET_DUE: int(counts.get(T_NOT_DUE, 0)),
        "Due date unknown": int(counts.get(T_UNKNOWN, 0)),
        C.PCT_MET: _pct(met, den),
        C.PCT_IN_TIME: pct_in_time,
        C.ICO_FLAG: _flag(pct_in_time),
    }


def _grouped(
    df: pd.DataFrame, by: str, row: Callable[[pd.DataFrame], dict[str, Any]], label: str, total: str | None
) -> pd.DataFrame:
    """One row per group (sorted by label) plus an optional total row computed over the whole input."""
    rows = [{label: key, **row(part)} for key, part in df.groupby(by, sort=True, dropna=False)]
    if total is not None:
        rows.append({label: total, **row(df)})
    return pd.DataFrame(rows)


def _with_regime_rows(df: pd.DataFrame, row: Callable[[pd.DataFrame], dict[str, Any]]) -> pd.DataFrame:
    """Rows per regime (in statutory order) then "All FOI and EIR"."""
    rows = []
    for code, label in C.REGIME_LABELS.items():
        part = df[df["regime"] == code]
        if len(part):
            rows.append({"Regime": label, **row(part)})
    rows.append({"Regime": C.ALL_INFO, **row(df[df["is_info"]])})
    return pd.DataFrame(rows)


def _buckets(values: pd.Series, buckets: list[tuple[str, int | None, int | None]]) -> list[int]:
    v = values.dropna()
    out = []
    for _, low, high in buckets:
        mask = pd.Series(True, index=v.index)
        if low is not None:
            mask &= v >= low
        if high is not None:
            mask &= v <= high
        out.append(int(mask.sum()))
    return out


def _label(series: pd.Series, mapping: dict[str, str] | None = None) -> pd.Series:
    """Display labels: codes through ``mapping`` (or "member_of_public" -> "Member of public"); empty -> Not recorded."""
    s = series.fillna(C.NOT_RECORDED).astype(str)
    if mapping is None:
        return s
    names = {v: mapping.get(v, v.replace("_", " ").capitalize()) for v in s.unique() if v != C.NOT_RECORDED}
    names[C.NOT_RECORDED] = C.NOT_RECORDED
    return s.map(names)


# -- individual measures ------------------------------------------------------------------------------------


def _volume_row(part: pd.DataFrame) -> dict[str, Any]:
    return {
        C.TOTAL: len(part),
        C.PROCESSED: int(part["processed"].sum()),
        C.ON_HOLD: int(part["on_hold"].sum()),
        C.STILL_PROCESSING: int((~part["processed"] & ~part["on_hold"]).sum()),
    }


def volumes(p: pd.DataFrame, column: str, label: str, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    df = p.assign(_key=_label(p[column], mapping))
    out = _grouped(df, "_key", _volume_row, label, "All requests")
    total = len(p)
    out["Percentage of all requests"] = [_pct(n, total) for n in out[C.TOTAL]]
    return out


def _outcome_row(part: pd.DataFrame) -> dict[str, Any]:
    live = part[~part["on_hold"]]
    o = live["outcome"]
    responded = live["processed"]
    advice = int((o == "advice_and_assistance").sum())
    not_held = int((o == "not_held").sum())
    granted = int((o == "granted_in_full").sum())
    partial = int((o == "partially_withheld").sum())
    refused = {
        C.REFUSED_VEXATIOUS: int((o == "vexatious").sum()),
        C.REFUSED_REPEATED: int((o == "repeated").sum()),
        C.REFUSED_COST: int((o == "refused_cost").sum()),
        C.REFUSED_EXEMPTION: int((o == "withheld_in_full").sum()),
    }
    withheld = sum(refused.values())
    resolvable = len(live) - advice - not_held
    return {
        C.TOTAL_EXCL: len(live),
        C.ADVICE: advice,
        C.NOT_HELD: not_held,
        C.RESOLVABLE: int(resolvable),
        C.GRANTED: granted,
        C.PARTIAL: partial,
        C.WITHHELD: withheld,
        C.NOT_YET_PROVIDED: int((~responded & o.isna()).sum()),
        C.OUTCOME_NOT_RECORDED: int((responded & o.isna()).sum()),
        C.PCT_GRANTED: _pct(granted, resolvable),
        C.PCT_WITHHELD: _pct(withheld, resolvable),
        **refused,
    }


def exemptions(p: pd.DataFrame) -> pd.DataFrame:
    """One count per use: each section a case cites counts once for that case."""
    live = p[~p["on_hold"] & p["exemptions"].notna()]
    exploded = (
        live[["crm_id", "regime", "exemptions"]]
        .assign(code=live["exemptions"].str.split(";"))
        .explode("code")
        .assign(code=lambda d: d["code"].str.strip())
    )
    exploded = exploded[exploded["code"].notna() & (exploded["code"] != "")]
    pairs = exploded[["code", "regime"]].drop_duplicates()
    classified = {(c, r): C.classify_exemption(c, r) for c, r in zip(pairs["code"], pairs["regime"], strict=True)}
    exploded["scheme"] = [classified[(c, r)][0] for c, r in zip(exploded["code"], exploded["regime"], strict=True)]
    exploded["label"] = [classified[(c, r)][1] for c, r in zip(exploded["code"], exploded["regime"], strict=True)]
    uses = exploded.drop_duplicates(["crm_id", "label"]).groupby(["scheme", "label"]).size()
    rows = [("FOIA", label) for label in C.FOIA_EXEMPTIONS.values()]
    rows += [("EIR", label) for label in C.EIR_EXCEPTIONS.values()]
    if p["regime"].isin(["foisa", "eisr"]).any():
        rows += [("FOISA", label) for label in C.FOISA_EXEMPTIONS.values()]
        rows += [("EISR", label) for label in C.EISR_EXCEPTIONS.values()]
    known = set(rows)
    rows += sorted(k for k in uses.index if k not in known and k[0] != "S21")
    out = pd.DataFrame(rows, columns=["Scheme", "Exemption or exception"])
    out["Uses"] = [int(uses.get(k, 0)) for k in rows]
    return out


def _exemption_totals(p: pd.DataFrame, table: pd.DataFrame) -> dict[str, Any]:
    live = p[~p["on_hold"]]
    codes = live["exemptions"].fillna("")
    s21 = codes.str.contains(r"(?:^|;)\s*s21(?:\(|;|$)", regex=True) & ~live["regime"].isin(["foisa", "eisr"])
    only_s21 = codes.str.fullmatch(r"\s*s21(?:\([^;]*\))?\s*")
    claimed = (codes != "") & ~only_s21.fillna(False)
    return {
        C.TOTAL_EXEMPTIONS: int(table["Uses"].sum()),
        C.REQUESTS_WITH_EXEMPTION: int(claimed.sum()),
        C.S21_TOTAL: int(s21.sum()),
        C.S21_PARTLY: int((s21 & (live["outcome"] == "partially_withheld")).sum()),
        C.S21_FULLY: int((s21 & (live["outcome"] == "withheld_in_full")).sum()),
        C.S21_MET: int((s21 & (live["timeliness"] == T_MET)).sum()),
        C.S21_LATE: int((s21 & (live["timeliness"] == T_LATE)).sum()),
    }


def _review_rows(p: pd.DataFrame, period: Period, kind: str) -> pd.DataFrame:
    if kind == "ir":
        date_col, outcome_col, stage = "review_requested_date", "review_outcome", "internal_review"
        names = (C.IR_TOTAL, C.IR_KNOWN, C.IR_UPHELD, C.IR_PART, C.IR_OVERTURNED, C.IR_WITHDRAWN, C.IR_PCT_UPHELD)
    else:
        date_col, outcome_col, stage = "complaint_date", "complaint_outcome", "ico_complaint"
        names = (
            C.ICO_TOTAL,
            C.ICO_KNOWN,
            C.ICO_UPHELD,
            C.ICO_PART,
            C.ICO_OVERTURNED,
            C.ICO_WITHDRAWN,
            C.ICO_PCT_UPHELD,
        )
    has = p[date_col].notna() | p[outcome_col].notna() | (p["stage"] == stage)
    when = p[date_col].fillna(p["received_date"])
    sel = p[has & _in_period(when, period)]

    def row(part: pd.DataFrame) -> dict[str, Any]:
        o = part[outcome_col]
        upheld, part_, over, wd = (int((o == v).sum()) for v in ("upheld", "upheld_in_part", "overturned", "withdrawn"))
        known = upheld + part_ + over
        return dict(zip(names, (len(part), known, upheld, part_, over, wd, _pct(upheld, known)), strict=True))

    return _with_regime_rows(sel, row)


def _in_period(dates: pd.Series, period: Period) -> pd.Series:
    mask = dates.notna()
    if period.start is not None:
        mask &= dates >= pd.Timestamp(period.start)
    if period.end is not None:
        mask &= dates <= pd.Timestamp(period.end)
    return mask


def response_times(p: pd.DataFrame) -> pd.DataFrame:
    def row(part: pd.DataFrame) -> dict[str, Any]:
        d = part.loc[part["processed"], "wd_to_respond"].dropna()
        if d.empty:
            q1 = q2 = q3 = lo = hi = mean = float("nan")
        else:
            q1, q2, q3 = (float(x) for x in d.quantile([0.25, 0.5, 0.75]))
            lo, hi, mean = float(d.min()), float(d.max()), round(float(d.mean()), 1)
        return {
            C.PROCESSED: len(d),
            "Median working days to respond": q2,
            "Lower quartile (working days)": q1,
            "Upper quartile (working days)": q3,
            "Interquartile range (working days)": q3 - q1,
            "Minimum working days": lo,
            "Maximum working days": hi,
            "Mean working days": mean,
        }

    return _with_regime_rows(p, row)


def response_bands(p: pd.DataFrame) -> pd.DataFrame:
    def row(part: pd.DataFrame) -> dict[str, Any]:
        counts = _buckets(part.loc[part["processed"], "wd_to_respond"], C.RESPONSE_BANDS)
        return dict(zip(C.bucket_labels(C.RESPONSE_BANDS), counts, strict=True))

    return _with_regime_rows(p, row)


def acknowledgements(p: pd.DataFrame, activities: pd.DataFrame, wd: WorkingDays, ack_days: int) -> pd.DataFrame:
    """Acknowledgement letters per regime: requests acknowledged, within ``ack_days`` working days, median days.

    A request counts as acknowledged on the date its first outgoing acknowledgement email was sent (the letter's
    ``actualend``); an acknowledgement still in Draft in the CRM is counted separately, as not yet sent.
    """
    from connector.reporting.store import activities_frame

    acts = activities_frame(activities)
    ack = acts[acts["kind"] == "acknowledgement"]
    sent = ack[(ack["state"] == "sent") & (ack["outgoing"] != "0") & ack["completed_date"].notna()]
    first = sent.groupby("regarding_id")["completed_date"].min()
    drafted = set(ack.loc[ack["state"] == "draft", "regarding_id"].dropna())
    ids = p["crm_id"].fillna("").astype(str).str.lower()
    firsts = first.to_dict()
    ack_date = pd.to_datetime(
        pd.Series([firsts.get(i) for i in ids], index=p.index, dtype=object), errors="coerce"
    ).astype("datetime64[ns]")
    ack_wd = wd.between(p["received_date"], ack_date, p["regime"])
    q = p.assign(_ack=ack_date.notna(), _wd=ack_wd, _draft=ids.isin(drafted) & ack_date.isna())
    within = f"Acknowledged within {ack_days} working days"

    def row(part: pd.DataFrame) -> dict[str, Any]:
        days = part.loc[part["_ack"], "_wd"].dropna()
        n_within = int((days <= ack_days).sum())
        return {
            C.TOTAL: len(part),
            "Acknowledged": int(part["_ack"].sum()),
            within: n_within,
            f"% acknowledged within {ack_days} working days": _pct(n_within, len(part)),
            "Median working days to acknowledge": float(days.median()) if len(days) else float("nan"),
            "Acknowledgement drafted, not sent": int(part["_draft"].sum()),
            "Not acknowledged": int((~part["_ack"]).sum()),
        }

    return _with_regime_rows(q, row)


def _duration_table(values: pd.Series, buckets: list[tuple[str, int | None, int | None]], what: str) -> pd.DataFrame:
    return pd.DataFrame({"Working days": C.bucket_labels(buckets), what: _buckets(values, buckets)})


def open_caseload(prepared: pd.DataFrame, today: date, due_soon_days: int, wd: WorkingDays) -> dict[str, pd.DataFrame]:
    """Open cases as at ``today`` (every period), per team, with due-soon and overdue reference lists."""
    stage = prepared["stage"].fillna("received")
    open_ = prepared[prepared["responded_date"].isna() & ~stage.isin(FINISHED_STAGES)].copy()
    open_["team"] = open_["assigned_team"].fillna(C.UNASSIGNED)
    paused = open_["stage"].isin(PAUSED_STAGES)
    today_ts = pd.Timestamp(today)
    today_col = pd.Series(today_ts, index=open_.index)
    eff = open_["effective_due"]
    overdue = ~paused & eff.notna() & (eff < today_ts)
    remaining = wd.between(today_col, eff.where(~overdue & ~paused), open_["regime"])
    late_by = wd.between(eff.where(overdue), today_col, open_["regime"])
    due_soon = ~paused & ~overdue & remaining.notna() & (remaining <= due_soon_days)
    open_ = open_.assign(_overdue=overdue, _soon=due_soon, _paused=paused, _remaining=remaining, _late=late_by)

    by_team = (
        open_.groupby("team", sort=True)
        .agg(
            **{
                "Open cases": ("crm_id", "size"),
                "Due soon": ("_soon", "sum"),
                "Overdue": ("_overdue", "sum"),
                "Clock stopped (clarification or fee)": ("_paused", "sum"),
            }
        )
        .reset_index()
        .rename(columns={"team": "Team"})
    )
    total = {"Team": "All teams", **{c: int(by_team[c].sum()) for c in by_team.columns if c != "Team"}}
    by_team = pd.concat([by_team, pd.DataFrame([total])], ignore_index=True)
    for c in by_team.columns[1:]:
        by_team[c] = by_team[c].astype("int64")

    # Per officer, when the CRM records assigned officers (officer assignment, README "Officer assignment").
    officers = "assigned_officer" in open_ and bool(open_["assigned_officer"].notna().any())
    if officers:
        open_["officer"] = open_["assigned_officer"].fillna(C.UNASSIGNED)

    def listing(mask: pd.Series, days_col: str, days_name: str) -> pd.DataFrame:
        sel = open_[mask].sort_values(["team", "effective_due", "reference"])
        who = {"Officer": sel["officer"].to_numpy()} if officers else {}
        return pd.DataFrame(
            {
                "Team": sel["team"].to_numpy(),
                **who,
                "Reference": sel["reference"].fillna(sel["crm_id"]).to_numpy(),
                "Regime": sel["regime_label"].to_numpy(),
                "Stage": _label(sel["stage"], {}).to_numpy(),
                "Received": sel["received_date"].dt.date.to_numpy(),
                "Due": sel["effective_due"].dt.date.to_numpy(),
                days_name: sel[days_col].astype("Int64").to_numpy(),
            }
        )

    out: dict[str, pd.DataFrame] = {
        "open_caseload": by_team,
        "due_soon": listing(due_soon, "_remaining", "Working days remaining"),
        "overdue": listing(overdue, "_late", "Working days overdue"),
    }
    if officers:
        by_officer = (
            open_.groupby(["team", "officer"], sort=True)
            .agg(
                **{
                    "Open cases": ("crm_id", "size"),
                    "Due soon": ("_soon", "sum"),
                    "Overdue": ("_overdue", "sum"),
                    "Clock stopped (clarification or fee)": ("_paused", "sum"),
                }
            )
            .reset_index()
            .rename(columns={"team": "Team", "officer": "Officer"})
        )
        for c in by_officer.columns[2:]:
            by_officer[c] = by_officer[c].astype("int64")
        out["open_caseload_by_officer"] = by_officer
    out["open_caseload_by_stage"] = _open_by_stage(open_)
    return out


def _open_by_stage(open_: pd.DataFrame) -> pd.DataFrame:
    """Open cases per stage in the order a case moves through them (connector.model.Stage), with a total row: where
    the caseload is waiting (on the requester, on the officer, or past a review)."""
    order = {stage.value: i for i, stage in enumerate(Stage)}
    counts = (
        open_.assign(stage=open_["stage"].fillna(Stage.RECEIVED.value))
        .groupby("stage", sort=False)
        .agg(
            **{
                "Open cases": ("crm_id", "size"),
                "Due soon": ("_soon", "sum"),
                "Overdue": ("_overdue", "sum"),
                "Clock stopped (clarification or fee)": ("_paused", "sum"),
            }
        )
        .reset_index()
    )
    counts = counts.iloc[counts["stage"].map(lambda s: order.get(s, len(order))).argsort(kind="stable")]
    counts.insert(0, "Stage", _label(counts.pop("stage"), {}).to_numpy())
    total = {"Stage": "All stages", **{c: int(counts[c].sum()) for c in counts.columns if c != "Stage"}}
    counts = pd.concat([counts, pd.DataFrame([total])], ignore_index=True)
    for c in counts.columns[1:]:
        counts[c] = counts[c].astype("int64")
    return counts


def trends(p: pd.DataFrame, freq: str) -> pd.DataFrame:
    info = p[p["is_info"] & p["received_date"].notna()]
    name = "Month" if freq == "M" else "Quarter"
    if freq == "M":
        key = info["received_date"].dt.strftime("%Y-%m")
    else:
        key = info["received_date"].dt.year.astype(str) + "-Q" + info["received_date"].dt.quarter.astype(str)
    rows = []
    for k, part in info.groupby(key, sort=True):
        t = _timeliness_row(part["timeliness"])
        rows.append(
            {
                name: k,
                C.TOTAL: t[C.TOTAL],
                C.PROCESSED: int(part["processed"].sum()),
                C.MET: t[C.MET],
                C.EXTENDED: t[C.EXTENDED],
                C.LATE: t[C.LATE],
                C.PCT_IN_TIME: t[C.PCT_IN_TIME],
                C.ICO_FLAG: t[C.ICO_FLAG],
            }
        )
    cols = [name, C.TOTAL, C.PROCESSED, C.MET, C.EXTENDED, C.LATE, C.PCT_IN_TIME, C.ICO_FLAG]
    return pd.DataFrame(rows, columns=cols)


def sic_statistics(p: pd.DataFrame) -> pd.DataFrame:
    """Scottish Information Commissioner portal columns for FOISA and EISR requests (names as published)."""
    rows: list[tuple[str, int]] = []
    for regime, pre in (("foisa", "FOISA"), ("eisr", "EIR")):
        s = p[p["regime"] == regime]
        o, t = s["outcome"], s["timeliness"]
        if regime == "foisa":
            names = [
                ("FOISA requests", len(s)),
                ("FOISA closed - withdrawn", (s["stage"] == Stage.WITHDRAWN_OR_LAPSED.value).sum()),
                ("FOISA response on time", t.isin([T_MET, T_EXT]).sum()),
                ("FOISA response late", (t.eq(T_LATE) & s["processed"]).sum()),
                ("FOISA - faliure to respond", (t.eq(T_LATE) & ~s["processed"]).sum()),
                ("FOISA refused - cost", (o == "refused_cost").sum()),
                ("FOISA - vexatious", (o == "vexatious").sum()),
                ("FOISA - repeated", (o == "repeated").sum()),
                ("FOISA - full release", (o == "granted_in_full").sum()),
                ("FOISA - none released", (o == "withheld_in_full").sum()),
                ("FOISA - some released", (o == "partially_withheld").sum()),
                ("FOISA - none held", (o == "not_held").sum()),
                ("FOISA reviews", s["review_requested_date"].notna().sum()),
            ]
        else:
            names = [
                ("EIR requests", len(s)),
                ("EIR closed - withdrawn", (s["stage"] == Stage.WITHDRAWN_OR_LAPSED.value).sum()),
                ("EIRs response on time", t.isin([T_MET, T_EXT]).sum()),
                ("EIRs response late", (t.eq(T_LATE) & s["processed"]).sum()),
                ("EIRs - failure to respond", (t.eq(T_LATE) & ~s["processed"]).sum()),
                ("EIR timescale extended", (s["extension"] == "eir").sum()),
                ("EIRs refused - cost", (o == "refused_cost").sum()),
                ("EIRs - manifestly unreasonable", o.isin(["vexatious", "repeated"]).sum()),
                ("EIRs - full release", (o == "granted_in_full").sum()),
                ("EIRs - none released", (o == "withheld_in_full").sum()),
                ("EIRs - some released", (o == "partially_withheld").sum()),
                ("EIRs - none held", (o == "not_held").sum()),
                ("EIRs reviews", s["review_requested_date"].notna().sum()),
            ]
        _ = pre
        rows += [(n, int(v)) for n, v in names]
    rows.append(("Subject Access Requests", int((p["regime"] == "sar").sum())))
    return pd.DataFrame(rows, columns=["Measure", "Value"])


# -- the whole set ---------------------------------------------------------------------------------------------


def compute_measures(
    frame: pd.DataFrame,
    period: Period | str | None = None,
    *,
    today: date | None = None,
    engine: DeadlineEngine | None = None,
    due_soon_days: int = 5,
    activities: pd.DataFrame | None = None,
    ack_days: int = 5,
) -> dict[str, pd.DataFrame]:
    """Every report table, keyed by a stable snake_case name (sheet / CSV file name).

    ``activities`` (the store's letters, :meth:`ReportingStore.activities_frame`) adds the ``acknowledgements``
    table: requests acknowledged within ``ack_days`` working days and the median days to acknowledge.
    """
    from connector.reporting.store import cases_frame

    period = make_period(period) if not isinstance(period, Period) else period
    today = today or date.today()
    engine = engine or _default_engine()
    wd = WorkingDays(engine)
    frame = frame if frame.attrs.get("reporting_frame") else cases_frame(frame)
    prepared = prepare(frame, today, engine, wd)
    if period.start is None and period.end is None and prepared["received_date"].notna().any():
        first, last = prepared["received_date"].min().date(), prepared["received_date"].max().date()
        period = Period(None, None, f"all ({first} to {last})")
    in_period = _in_period(prepared["received_date"], period)
    undated = int(prepared["received_date"].isna().sum())
    if undated:
        log.warning("%d cases have no received date and are left out of period measures", undated)
    p = prepared[in_period]
    info = p[p["is_info"]]

    timeliness = _with_regime_rows(p, lambda part: _timeliness_row(part["timeliness"]))
    timeliness_team = _grouped(
        info.assign(_team=info["assigned_team"].fillna(C.UNASSIGNED)),
        "_team",
        lambda part: _timeliness_row(part["timeliness"]),
        "Team",
        "All teams",
    )
    outcomes = _with_regime_rows(p, _outcome_row)
    exemption_table = exemptions(info)
    ex_totals = _exemption_totals(info, exemption_table)
    internal_reviews = _review_rows(prepared, period, "ir")
    ico = _review_rows(prepared, period, "ico")
    pit = info[info["extension"] == "pit"]
    ir_done = prepared[_in_period(prepared["review_completed_date"], period) & prepared["is_info"]]
    pit_table = _duration_table(pit["pit_days"], C.PIT_BUCKETS, "PIT extensions completed")
    ir_table = _duration_table(ir_done["ir_days"], C.IR_BUCKETS, "Internal reviews completed")
    caseload = open_caseload(prepared, today, due_soon_days, wd)
    rt = response_times(p)

    head = _timeliness_row(info["timeliness"])
    all_info_outcome = outcomes.iloc[-1].to_dict()
    all_rt = rt.iloc[-1].to_dict()
    summary_items: list[tuple[str, Any]] = [
        ("Period (by date received)", period.label),
        ("As at", today.isoformat()),
        (C.TOTAL + " (all regimes, including SAR)", len(p)),
        (C.EIR_HANDLED, int((p["regime"].isin(["eir", "eisr"])).sum())),
        ("Subject access requests received", int((p["regime"] == "sar").sum())),
        (C.TOTAL + " (FOI and EIR)", head[C.TOTAL]),
        (C.PROCESSED, int(info["processed"].sum())),
        (C.ON_HOLD, head[C.ON_HOLD]),
        (C.STILL_PROCESSING, int((~info["processed"] & ~info["on_hold"]).sum())),
        (C.TOTAL_EXCL, head[C.TOTAL_EXCL]),
        (C.MET, head[C.MET]),
        (C.EXTENDED, head[C.EXTENDED]),
        (C.LATE, head[C.LATE]),
        (C.NOT_YET_DUE, head[C.NOT_YET_DUE]),
        (C.PCT_MET, head[C.PCT_MET]),
        (C.PCT_IN_TIME, head[C.PCT_IN_TIME]),
        (C.ICO_FLAG, head[C.ICO_FLAG]),
        *((k, all_info_outcome[k]) for k in (C.ADVICE, C.NOT_HELD, C.RESOLVABLE, C.GRANTED, C.PARTIAL, C.WITHHELD)),
        *((k, all_info_outcome[k]) for k in (C.NOT_YET_PROVIDED, C.PCT_GRANTED, C.PCT_WITHHELD)),
        *ex_totals.items(),
        (C.IR_TOTAL, int(internal_reviews.iloc[-1][C.IR_TOTAL])),
        (C.ICO_TOTAL, int(ico.iloc[-1][C.ICO_TOTAL])),
        (C.PIT_TOTAL, len(pit)),
        (C.PIT_COMPLETED, int(pit["processed"].sum())),
        (C.IR_COMPLETED, len(ir_done)),
        ("Median working days to respond (FOI and EIR)", all_rt["Median working days to respond"]),
        ("Interquartile range (working days)", all_rt["Interquartile range (working days)"]),
        ("Open cases (as at)", int(caseload["open_caseload"].iloc[-1]["Open cases"])),
        ("Due soon (as at)", int(caseload["open_caseload"].iloc[-1]["Due soon"])),
        ("Overdue (as at)", int(caseload["open_caseload"].iloc[-1]["Overdue"])),
    ]
    ack_table = acknowledgements(p, activities, wd, ack_days) if activities is not None else None
    if ack_table is not None:
        all_ack = ack_table.iloc[-1]
        summary_items += [
            (
                f"Requests acknowledged within {ack_days} working days (FOI and EIR)",
                int(all_ack[f"Acknowledged within {ack_days} working days"]),
            ),
            (
                f"% acknowledged within {ack_days} working days (FOI and EIR)",
                all_ack[f"% acknowledged within {ack_days} working days"],
            ),
            ("Median working days to acknowledge (FOI and EIR)", all_ack["Median working days to acknowledge"]),
        ]
    summary = pd.DataFrame(summary_items, columns=["Measure", "Value"])
    summary["Value"] = summary["Value"].astype(object)

    tables: dict[str, pd.DataFrame] = {
        "summary": summary,
        "timeliness_by_regime": timeliness,
        "timeliness_by_team": timeliness_team,
        "volumes_by_regime": volumes(p, "regime", "Regime", C.REGIME_LABELS),
        "volumes_by_channel": volumes(p, "channel", "Channel", C.CHANNEL_LABELS),
        "volumes_by_service_area": volumes(p, "service_area", "Service area"),
        "volumes_by_requester_type": volumes(p, "requester_type", "Requester type", {}),
        "outcomes": outcomes,
        "exemptions": exemption_table,
        "internal_reviews": internal_reviews,
        "ico_complaints": ico,
        "pit_extension_durations": pit_table,
        "internal_review_durations": ir_table,
        "response_times": rt,
        "response_time_bands": response_bands(p),
        **({"acknowledgements": ack_table} if ack_table is not None else {}),
        **caseload,
        "monthly_trend": trends(p, "M"),
        "quarterly_trend": trends(p, "Q"),
    }
    if prepared["regime"].isin(["foisa", "eisr"]).any():
        tables["sic_statistics"] = sic_statistics(p)
    tables["cases"] = case_level(p)
    tables["about"] = about(period, today, due_soon_days, undated)
    return tables


def case_level(p: pd.DataFrame) -> pd.DataFrame:
    """One de-identified row per case in the period, for Power BI (CSV only: no requester data exists here)."""
    labels = {
        T_MET: C.MET,
        T_EXT: C.EXTENDED,
        T_LATE: C.LATE,
        T_NOT_DUE: C.NOT_YET_DUE,
        T_ON_HOLD: C.ON_HOLD,
        T_UNKNOWN: "Due date unknown",
    }
    cols = [
        "reference",
        "regime",
        "channel",
        "requester_type",
        "service_area",
        "assigned_team",
        "stage",
        "outcome",
        "exemptions",
        "received_date",
        "responded_date",
        "due_date",
        "extended_due_date",
        "extension",
        "review_requested_date",
        "review_completed_date",
        "review_outcome",
        "complaint_date",
        "complaint_outcome",
    ]
    out = p[cols].copy()
    out["timeliness"] = p["timeliness"].map(labels)
    out["working_days_to_respond"] = p["wd_to_respond"].astype("Int64")
    out["received_month"] = p["received_date"].dt.strftime("%Y-%m")
    return out.reset_index(drop=True)


def about(period: Period, today: date, due_soon_days: int, undated: int) -> pd.DataFrame:
    items = [
        (
            "Period",
            f"{period.label}: requests counted by the date they were received. Quarters are calendar "
            "quarters (Q1 = January to March), as in the Cabinet Office FOI statistics.",
        ),
        (
            "As at",
            f"{today.isoformat()}: open caseload, due-soon and overdue lists cover every open case on this "
            "date, whatever its period.",
        ),
        ("Source of the data", "The CRM (Dynamics 365), mirrored by foi-sync pull; the CRM's values win."),
        (
            "Category names",
            "Cabinet Office 'Freedom of Information statistics' published CSV wording; Scottish "
            "columns follow the Scottish Information Commissioner's statistics portal.",
        ),
        (
            "Timeliness",
            "Met: responded on or before the statutory due date. Permitted extension: responded after it "
            "but by a properly notified extended date (PIT, EIR reg 7, SAR Art 12(3)). Late: responded after the due "
            "date, or still open after it. Percentages are over met + extension + late; requests whose deadline has "
            "not passed and on-hold or lapsed requests are excluded.",
        ),
        (
            "ICO threshold",
            f"The ICO monitors authorities answering fewer than {C.ICO_THRESHOLD:.0f}% of FOI/EIR requests in time.",
        ),
        (
            "Regimes",
            "Cabinet Office measures and the ICO threshold count FOI and EIR requests (FOIA, EIR, FOISA, "
            "EISR); subject access requests have their own rows.",
        ),
        (
            "Exemptions",
            "One count per use: each section a request cites counts once for that request. Section 21 is "
            "counted separately, as the Cabinet Office does.",
        ),
        (
            "Durations",
            "Working days from the deadlines engine's calendar. Time to respond: from receipt (or from the "
            "clarification that restarted the clock) to the response. PIT extension: working days taken beyond the "
            "20-day deadline. Internal review: from the request for review to its completion.",
        ),
        ("Due soon", f"An open case whose deadline is within {due_soon_days} working days."),
        (
            "Acknowledgements",
            "From the letters (email activities) regarding each case in the CRM: a request is acknowledged on the "
            "day its first outgoing acknowledgement was sent; working days are counted from the day of receipt. "
            "Drafts not yet sent do not count.",
        ),
        (
            "Internal reviews and complaints",
            "Counted by the date the review was requested or the complaint lodged (the date of receipt when the "
            "CRM holds none); outcomes as officers record them in the CRM.",
        ),
        ("Cases without a received date", str(undated)),
    ]
    return pd.DataFrame(items, columns=["Item", "Detail"])
