"""Self-contained HTML dashboard: inline CSS and inline SVG charts drawn here. No scripts, no fonts, no CDN.

It opens from a file share or an email attachment with no internet access. Every text value is HTML-escaped.
"""

from __future__ import annotations

import math
import re
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from connector.reporting import categories as C

BLUE, GREEN, RED, AMBER, GREY, LIGHT = "#1d70b8", "#00703c", "#d4351c", "#f47738", "#505a5f", "#f3f2f1"
LIST_LIMIT = 100

#: Readable from 800 px to 1920 px: the two-column grid folds to one column below ~1100 px, a section never grows
#: wider than the page (a wide table scrolls inside its section), dates and references never break inside a cell,
#: and every heading after the first in a section keeps clear of the table above it.
CSS = f"""
*{{box-sizing:border-box}} body{{font-family:Arial,Helvetica,sans-serif;margin:0;color:#0b0c0c;background:#fff}}
header{{background:#0b0c0c;color:#fff;padding:16px 28px}} header h1{{margin:0;font-size:24px}}
header p{{margin:4px 0 0;color:#dcdcdc;font-size:14px}} main{{padding:20px 28px;max-width:1920px}}
.tiles{{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin-bottom:20px}}
.tile{{background:{LIGHT};padding:12px 14px;border-top:6px solid {BLUE}}}
.tile .v{{font-size:30px;font-weight:bold}} .tile .l{{font-size:13px;color:{GREY}}}
.tile .v.word{{font-size:24px;line-height:36px}}
.tile.good{{border-top-color:{GREEN}}} .tile.bad{{border-top-color:{RED}}} .tile.warn{{border-top-color:{AMBER}}}
.grid{{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:18px}}
section{{border:1px solid #b1b4b6;padding:12px 14px;min-width:0;overflow-x:auto}}
section h2{{font-size:17px;margin:22px 0 8px}} section h2:first-child{{margin-top:0}}
table{{border-collapse:collapse;width:100%;font-size:13px}}
th,td{{border-bottom:1px solid #d8d8d8;padding:4px 6px;text-align:left;vertical-align:top}} th{{background:{LIGHT}}}
td.n{{text-align:right}} td.d,td.ref{{white-space:nowrap}} .note{{font-size:12px;color:{GREY}}}
.wide{{grid-column:1 / -1}}
.legend span{{display:inline-block;margin-right:14px;font-size:12px}}
.legend i{{display:inline-block;width:10px;height:10px;margin-right:4px}}
"""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REF = re.compile(r"^[A-Z]{2,6}[/-]\d{4}[/-]\w+$")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _svg_open(width: int, height: int, max_width: int | None = None) -> str:
    """An SVG that scales to its box (viewBox) but never grows beyond ``max_width`` (default: its drawn size)."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{max_width or width}px;height:auto" role="img">'
    )


def _short(label: str, n: int = 34) -> str:
    return label if len(label) <= n else label[: n - 1].rstrip() + "…"


def hbar_chart(
    items: list[tuple[str, float]],
    *,
    color: str = BLUE,
    width: int = 560,
    suffix: str = "",
    threshold: float | None = None,
    max_value: float | None = None,
) -> str:
    """Horizontal bars with labels and values; an optional dashed threshold line (e.g. the ICO's 90%)."""
    if not items:
        return '<p class="note">No data in this period.</p>'
    label_w, bar_h, gap = 215, 20, 8
    top = max_value or max(v for _, v in items) or 1
    plot = width - label_w - 60
    height = len(items) * (bar_h + gap) + gap
    parts = [_svg_open(width, height)]
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = 0 if not value or math.isnan(value) else max(1.0, plot * value / top)
        fill = color
        if threshold is not None and value is not None and not math.isnan(value):
            fill = GREEN if value >= threshold else RED
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end">{escape(_short(label))}<title>{escape(label)}</title></text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{fill}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">{escape(_fmt(value))}{suffix}</text>'
        )
    if threshold is not None:
        x = label_w + plot * threshold / top
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="{GREY}" stroke-dasharray="4 3"/>'
            f'<text x="{x + 3:.1f}" y="{height - 2}" font-size="10" fill="{GREY}">{threshold:.0f}%</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def trend_chart(
    labels: list[str],
    received: list[float],
    in_time: list[float],
    *,
    width: int = 960,
    height: int = 260,
    threshold: float = C.ICO_THRESHOLD,
) -> str:
    """Monthly columns (requests received) with the % in time as a line against the 90% threshold."""
    if not labels:
        return '<p class="note">No data in this period.</p>'
    left, right, top, bottom = 64, 60, 14, 36
    pw, ph = width - left - right, height - top - bottom
    n = len(labels)
    step = pw / n
    step_count = _nice_step((max(received) or 1) * 1.15 / 4)
    vmax = step_count * 4  # four labelled steps on the left axis, with headroom for the threshold label
    parts = [_svg_open(width, height, max_width=1400)]  # fills a wide section, legible at 800 px
    parts.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="{GREY}"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="{GREY}"/>')
    parts.append(f'<line x1="{left + pw}" y1="{top}" x2="{left + pw}" y2="{top + ph}" stroke="{GREY}"/>')
    for k in range(5):  # left axis: requests received; right axis: % answered in time
        y = top + ph - ph * k / 4
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="12" fill="{GREY}" text-anchor="end">'
            f"{_fmt(step_count * k)}</text>"
            f'<text x="{left + pw + 6}" y="{y + 4:.1f}" font-size="12" fill="{GREY}">{25 * k}%</text>'
        )
    parts.append(
        f'<text x="12" y="{top + ph / 2:.1f}" font-size="12" fill="{GREY}" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + ph / 2:.1f})">requests received</text>'
        f'<text x="{width - 10}" y="{top + ph / 2:.1f}" font-size="12" fill="{BLUE}" text-anchor="middle" '
        f'transform="rotate(90 {width - 10} {top + ph / 2:.1f})">% in time</text>'
    )
    ty = top + ph - ph * threshold / 100
    parts.append(
        f'<line x1="{left}" y1="{ty:.1f}" x2="{left + pw}" y2="{ty:.1f}" stroke="{RED}" stroke-dasharray="5 4"/>'
        f'<text x="{left + 4}" y="{ty - 4:.1f}" font-size="12" fill="{RED}">'
        f"ICO {threshold:.0f}% threshold</text>"
    )
    every = max(1, math.ceil(n / 24))
    points = []
    for i, (label, count, pct) in enumerate(zip(labels, received, in_time, strict=True)):
        x = left + i * step
        h = ph * count / vmax
        parts.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{top + ph - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
            f'fill="#9fc1e3"><title>{escape(label)}: {int(count)} received</title></rect>'
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{top + ph + 14}" font-size="12" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
        if pct is not None and not math.isnan(pct):
            points.append((x + step / 2, top + ph - ph * pct / 100, pct))
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{BLUE}" stroke-width="2.5"/>')
        for x, y, pct in points:
            dot = GREEN if pct >= threshold else RED
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{dot}"><title>{pct:.1f}%</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(raw: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at least ``raw``: axis steps a person reads at a glance."""
    if raw <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw))


def stacked_bar(segments: list[tuple[str, float, str]], *, width: int = 560) -> str:
    """One 100% bar split into coloured segments (e.g. met / extension / late) with a legend."""
    total = sum(v for _, v, _ in segments)
    if not total:
        return '<p class="note">No responses due yet in this period.</p>'
    parts = [_svg_open(width, 34)]
    x = 0.0
    for label, value, color in segments:
        w = width * value / total
        parts.append(
            f'<rect x="{x:.1f}" y="2" width="{w:.1f}" height="30" fill="{color}"><title>{escape(label)}: '
            f"{int(value)}</title></rect>"
        )
        if w > 40:
            parts.append(
                f'<text x="{x + w / 2:.1f}" y="22" font-size="12" fill="#fff" text-anchor="middle">'
                f"{100 * value / total:.0f}%</text>"
            )
        x += w
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{c}"></i>{escape(lbl)} ({int(v):,})</span>' for lbl, v, c in segments)
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def html_table(df: pd.DataFrame, limit: int | None = None) -> str:
    shown = df if limit is None else df.head(limit)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for row in shown.itertuples(index=False, name=None):
        cells = []
        for v in row:
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            text = _fmt(v)
            cls = "n" if num else "d" if _DATE.match(text) else "ref" if _REF.match(text) else ""
            cells.append(f'<td class="{cls}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if limit is not None and len(df) > limit:
        more = f'<p class="note">{len(df) - limit:,} more in the workbook and CSV files.</p>'
    if not rows:
        return '<p class="note">None.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _summary(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    s = tables["summary"]
    return dict(zip(s["Measure"], s["Value"], strict=True))


def render_dashboard(
    tables: dict[str, pd.DataFrame], *, council: str = "", title: str = "FOI compliance report"
) -> str:
    """The dashboard as one HTML string."""
    s = _summary(tables)
    pct = s.get(C.PCT_IN_TIME)
    pct_ok = pct is not None and not (isinstance(pct, float) and math.isnan(pct)) and pct >= C.ICO_THRESHOLD
    overdue = int(s.get("Overdue (as at)", 0) or 0)
    tiles = [
        (f"{_fmt(pct)}%", 'Answered "in time" (FOI and EIR)', "good" if pct_ok else "bad"),
        # Not a second score: whether the figure beside it reaches the ICO's expectation.
        (
            "Met" if pct_ok else "Not met",
            f"ICO threshold: {C.ICO_THRESHOLD:.0f}% answered in time (" + ("met" if pct_ok else "not met") + ")",
            "good" if pct_ok else "bad",
        ),
        (_fmt(s.get(C.TOTAL + " (all regimes, including SAR)")), "Requests received", ""),
        (_fmt(s.get(C.PROCESSED)), "FOI and EIR requests processed", ""),
        (_fmt(s.get("Open cases (as at)")), f"Open cases ({_fmt(s.get('Due soon (as at)'))} due soon)", "warn"),
        (_fmt(overdue), "Overdue now", "bad" if overdue else "good"),
    ]
    tile_html = "".join(
        f'<div class="tile {cls}"><div class="v{" word" if v[:1].isalpha() else ""}">{escape(v)}</div>'
        f'<div class="l">{escape(lbl)}</div></div>'
        for v, lbl, cls in tiles
    )

    vol = tables["volumes_by_regime"]
    vol_items = [(r, float(n)) for r, n in zip(vol.iloc[:-1, 0], vol[C.TOTAL], strict=False)]
    chan = tables["volumes_by_channel"]
    chan_items = [(r, float(n)) for r, n in zip(chan.iloc[:-1, 0], chan[C.TOTAL], strict=False)]
    t_all = tables["timeliness_by_regime"].iloc[-1]
    timeliness = stacked_bar(
        [(C.MET, t_all[C.MET], GREEN), (C.EXTENDED, t_all[C.EXTENDED], AMBER), (C.LATE, t_all[C.LATE], RED)]
    )
    team = tables["timeliness_by_team"]
    team_items = [(t, float(p)) for t, p in zip(team["Team"], team[C.PCT_IN_TIME], strict=True)]
    o = tables["outcomes"].iloc[-1]
    outcome_items = [
        ("Granted in full", o[C.GRANTED]),
        ("Partially withheld", o[C.PARTIAL]),
        ("Withheld in full: exemption", o[C.REFUSED_EXEMPTION]),
        ("Withheld in full: cost limit", o[C.REFUSED_COST]),
        ("Withheld in full: vexatious", o[C.REFUSED_VEXATIOUS]),
        ("Withheld in full: repeated", o[C.REFUSED_REPEATED]),
        ("Information not held", o[C.NOT_HELD]),
        ("Advice and assistance", o[C.ADVICE]),
        ("Response not yet provided", o[C.NOT_YET_PROVIDED]),
    ]
    outcome_items = [(label, float(v)) for label, v in outcome_items]
    ex = tables["exemptions"]
    ex = ex[ex["Uses"] > 0].sort_values("Uses", ascending=False).head(10)
    ex_items = [(str(lbl), float(n)) for lbl, n in zip(ex["Exemption or exception"], ex["Uses"], strict=True)]
    trend = tables["monthly_trend"]
    trend_svg = trend_chart(
        list(trend["Month"]), [float(v) for v in trend[C.TOTAL]], [float(v) for v in trend[C.PCT_IN_TIME]]
    )
    rt = tables["response_times"].iloc[-1]
    about = tables.get("about")
    notes = (
        "".join(
            f"<li><b>{escape(str(i))}</b>: {escape(str(d))}</li>"
            for i, d in zip(about["Item"], about["Detail"], strict=True)
        )
        if about is not None
        else ""
    )
    period = escape(str(s.get("Period (by date received)", "")))
    as_at = escape(str(s.get("As at", "")))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} – {period}</title><style>{CSS}</style></head>
<body><header><h1>{escape(council)} {escape(title)}</h1>
<p>Requests received in {period} · open caseload as at {as_at} · counted from the CRM</p></header>
<main>
<div class="tiles">{tile_html}</div>
<div class="grid">
<section class="wide"><h2>Monthly trend: requests received and % answered in time</h2>{trend_svg}</section>
<section><h2>Timeliness (FOI and EIR)</h2>{timeliness}
<p class="note">Median {escape(_fmt(rt["Median working days to respond"]))} working days to respond
(interquartile range {escape(_fmt(rt["Interquartile range (working days)"]))}).</p>
<h2>% in time by team</h2>{hbar_chart(team_items, threshold=C.ICO_THRESHOLD, max_value=100, suffix="%")}</section>
<section><h2>Requests by regime</h2>{hbar_chart(vol_items)}<h2>Requests by channel</h2>{hbar_chart(chan_items)}</section>
<section><h2>Initial outcomes (FOI and EIR)</h2>{hbar_chart(outcome_items, color=GREY)}</section>
<section><h2>Exemptions and exceptions applied (top 10)</h2>{hbar_chart(ex_items, color=AMBER)}</section>
{_reviews_section(tables)}
<section><h2>Open caseload by team</h2>{html_table(tables["open_caseload"])}</section>
<section><h2>Due soon</h2>{html_table(tables["due_soon"], LIST_LIMIT)}</section>
<section class="wide"><h2>Overdue cases</h2>{html_table(tables["overdue"], LIST_LIMIT)}</section>
<section class="wide"><h2>How this report counts</h2><ul class="note">{notes}</ul></section>
</div></main></body></html>
"""


def _reviews_section(tables: dict[str, pd.DataFrame]) -> str:
    """Internal reviews, ICO/SIC complaints and acknowledgements: the last row of each table (FOI and EIR)."""
    parts = []
    for name, title in (
        ("internal_reviews", "Internal reviews (FOI and EIR)"),
        ("ico_complaints", "ICO/SIC complaints (FOI and EIR)"),
        ("acknowledgements", "Acknowledgements (FOI and EIR)"),
    ):
        df = tables.get(name)
        if df is None or df.empty:
            continue
        last = df.iloc[-1]
        rows = pd.DataFrame({"Measure": list(df.columns[1:]), "Value": [last[c] for c in df.columns[1:]]})
        parts.append(f"<h2>{escape(title)}</h2>{html_table(rows)}")
    return f"<section>{''.join(parts)}</section>" if parts else ""


def write_dashboard(tables: dict[str, pd.DataFrame], path: Path, *, council: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dashboard(tables, council=council), encoding="utf-8")
    return path
