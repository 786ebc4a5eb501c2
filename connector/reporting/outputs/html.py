"""Self-contained HTML dashboard: inline CSS and inline SVG charts. No scripts, no fonts, no CDN.

It opens from a file share or an email attachment with no internet access. The page is one Jinja2 template
(``connector/reporting/templates/dashboard.html.j2``) in a sandboxed environment with autoescaping on, so every
text value (a team or officer name, a reference, the council's name) is escaped by the template engine, never by
hand. This module only works out what to draw: chart geometry and table cells as plain data.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2
import pandas as pd
from jinja2.sandbox import ImmutableSandboxedEnvironment

from connector.reporting import categories as C

BLUE, GREEN, RED, AMBER, GREY, LIGHT = "#1d70b8", "#00703c", "#d4351c", "#f47738", "#505a5f", "#f3f2f1"
COLOURS = {"blue": BLUE, "green": GREEN, "red": RED, "amber": AMBER, "grey": GREY, "light": LIGHT}
LIST_LIMIT = 100
TEMPLATE = "dashboard.html.j2"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REF = re.compile(r"^[A-Z]{2,6}[/-]\d{4}[/-]\w+$")

#: A table cell's value as the report tables hold it (pandas and numpy scalars included).
CellValue = object


def _fmt(value: CellValue) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _short(label: str, n: int = 34) -> str:
    return label if len(label) <= n else label[: n - 1].rstrip() + "…"


def _number(value: CellValue) -> float | None:
    """A summary cell as a number (numpy scalars included); None when it is empty, not a number, or NaN."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        return None if math.isnan(number) else number
    return None


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


# ------------------------------------------------------------------------------------------------ charts


@dataclass(frozen=True)
class Svg:
    """The drawing box: scales to its section (viewBox) but never grows beyond ``max_width``."""

    width: int
    height: int
    max_width: int


@dataclass(frozen=True)
class Bar:
    label: str
    short: str
    y: int
    width: float
    fill: str
    value: str


@dataclass(frozen=True)
class Threshold:
    x: float
    label: str


@dataclass(frozen=True)
class HBarChart:
    """Horizontal bars with labels and values; an optional dashed threshold line (e.g. the ICO's 90%)."""

    svg: Svg
    label_w: int
    bar_h: int
    bars: list[Bar]
    suffix: str
    threshold: Threshold | None
    kind: str = "hbar"


def hbar_chart(
    items: Sequence[tuple[str, float]],
    *,
    color: str = BLUE,
    width: int = 560,
    suffix: str = "",
    threshold: float | None = None,
    max_value: float | None = None,
) -> HBarChart | None:
    """Bar lengths against the largest value (or ``max_value``); with a threshold, bars are green at or above it and
    red below. None when there is nothing to draw (the template says so in words)."""
    if not items:
        return None
    label_w, bar_h, gap = 215, 20, 8
    top = max_value or max(v for _, v in items) or 1
    plot = width - label_w - 60
    height = len(items) * (bar_h + gap) + gap
    bars = []
    for i, (label, value) in enumerate(items):
        w = 0 if not value or math.isnan(value) else max(1.0, plot * value / top)
        fill = color
        if threshold is not None and not _missing(value):
            fill = GREEN if value >= threshold else RED
        bars.append(Bar(label, _short(label), gap + i * (bar_h + gap), w, fill, _fmt(value)))
    line = Threshold(label_w + plot * threshold / top, f"{threshold:.0f}%") if threshold is not None else None
    return HBarChart(Svg(width, height, width), label_w, bar_h, bars, suffix, line)


@dataclass(frozen=True)
class GridLine:
    y: float
    left: str
    right: str


@dataclass(frozen=True)
class Column:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    pct: float
    fill: str


@dataclass(frozen=True)
class TrendChart:
    """Monthly columns (requests received) with the % in time as a line against the 90% threshold."""

    svg: Svg
    left: int
    top: int
    plot_w: float
    plot_h: float
    grid: list[GridLine]
    threshold: float
    threshold_y: float
    columns: list[Column]
    ticks: list[tuple[float, str]]
    points: list[Point]
    kind: str = "trend"

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def trend_chart(
    labels: list[str],
    received: list[float],
    in_time: list[float],
    *,
    width: int = 960,
    height: int = 260,
    threshold: float = C.ICO_THRESHOLD,
) -> TrendChart | None:
    """Four labelled steps on the left axis (requests), 0-100% on the right; at most 24 month labels."""
    if not labels:
        return None
    left, right, top, bottom = 64, 60, 14, 36
    pw, ph = width - left - right, height - top - bottom
    n = len(labels)
    step = pw / n
    step_count = _nice_step((max(received) or 1) * 1.15 / 4)
    vmax = step_count * 4  # four labelled steps on the left axis, with headroom for the threshold label
    grid = [GridLine(top + ph - ph * k / 4, _fmt(step_count * k), f"{25 * k}%") for k in range(5)]
    every = max(1, math.ceil(n / 24))
    columns, ticks, points = [], [], []
    for i, (label, count, pct) in enumerate(zip(labels, received, in_time, strict=True)):
        x = left + i * step
        h = ph * count / vmax
        columns.append(Column(x + step * 0.15, top + ph - h, step * 0.7, h, f"{label}: {int(count)} received"))
        if i % every == 0:
            ticks.append((x + step / 2, label))
        if not _missing(pct):
            points.append(Point(x + step / 2, top + ph - ph * pct / 100, pct, GREEN if pct >= threshold else RED))
    return TrendChart(
        Svg(width, height, 1400),  # fills a wide section, legible at 800 px
        left,
        top,
        pw,
        ph,
        grid,
        threshold,
        top + ph - ph * threshold / 100,
        columns,
        ticks,
        points,
    )


def _nice_step(raw: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at least ``raw``: axis steps a person reads at a glance."""
    if raw <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw))


@dataclass(frozen=True)
class Segment:
    label: str
    count: int
    color: str
    x: float
    width: float
    pct: str | None  # printed inside the segment when it is wide enough


@dataclass(frozen=True)
class StackedBar:
    """One 100% bar split into coloured segments (e.g. met / extension / late) with a legend."""

    svg: Svg
    segments: list[Segment]
    kind: str = "stacked"


def stacked_bar(segments: list[tuple[str, float, str]], *, width: int = 560) -> StackedBar | None:
    total = sum(v for _, v, _ in segments)
    if not total:
        return None
    out, x = [], 0.0
    for label, value, color in segments:
        w = width * value / total
        out.append(Segment(label, int(value), color, x, w, f"{100 * value / total:.0f}%" if w > 40 else None))
        x += w
    return StackedBar(Svg(width, 34, width), out)


# ------------------------------------------------------------------------------------------------ tables


@dataclass(frozen=True)
class Cell:
    text: str
    cls: str  # "n" numbers right-aligned, "d" dates and "ref" references never wrap


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    more: int = 0  # rows left out (they are in the workbook and CSV files)


def html_table(df: pd.DataFrame, limit: int | None = None) -> Table:
    shown = df if limit is None else df.head(limit)
    rows = []
    for row in shown.itertuples(index=False, name=None):
        cells = []
        for v in row:
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            text = _fmt(v)
            cells.append(Cell(text, "n" if num else "d" if _DATE.match(text) else "ref" if _REF.match(text) else ""))
        rows.append(cells)
    more = len(df) - limit if limit is not None and len(df) > limit else 0
    return Table([str(c) for c in shown.columns], rows, more)


# ------------------------------------------------------------------------------------------------ page


@dataclass(frozen=True)
class Tile:
    value: str
    label: str
    cls: str

    @property
    def word(self) -> bool:
        """A verdict ("Met") rather than a figure: drawn a little smaller."""
        return self.value[:1].isalpha()


@dataclass(frozen=True)
class Panel:
    """One titled chart or table inside a section."""

    title: str
    chart: HBarChart | TrendChart | StackedBar | None = None
    table: Table | None = None
    note: str = ""
    empty: str = "No data in this period."


@dataclass(frozen=True)
class Section:
    panels: list[Panel]
    wide: bool = False
    notes: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Dashboard:
    title: str
    council: str
    period: str
    as_at: str
    tiles: list[Tile]
    sections: list[Section]


def _summary(tables: dict[str, pd.DataFrame]) -> dict[str, CellValue]:
    s = tables["summary"]
    return dict(zip(s["Measure"], s["Value"], strict=True))


def _tiles(s: dict[str, CellValue]) -> list[Tile]:
    """The headline figures; the threshold tile is a verdict on the figure beside it, not a second score."""
    pct = s.get(C.PCT_IN_TIME)
    pct_value = _number(pct)
    pct_ok = pct_value is not None and pct_value >= C.ICO_THRESHOLD
    overdue = int(_number(s.get("Overdue (as at)")) or 0)
    verdict = "met" if pct_ok else "not met"
    return [
        Tile(f"{_fmt(pct)}%", 'Answered "in time" (FOI and EIR)', "good" if pct_ok else "bad"),
        Tile(
            verdict.capitalize(),
            f"ICO threshold: {C.ICO_THRESHOLD:.0f}% answered in time ({verdict})",
            "good" if pct_ok else "bad",
        ),
        Tile(_fmt(s.get(C.TOTAL + " (all regimes, including SAR)")), "Requests received", ""),
        Tile(_fmt(s.get(C.PROCESSED)), "FOI and EIR requests processed", ""),
        Tile(_fmt(s.get("Open cases (as at)")), f"Open cases ({_fmt(s.get('Due soon (as at)'))} due soon)", "warn"),
        Tile(_fmt(overdue), "Overdue now", "bad" if overdue else "good"),
    ]


def _items(df: pd.DataFrame, labels: str | int, values: str) -> list[tuple[str, float]]:
    """(label, value) pairs of a table without its total row."""
    label_col = df.iloc[:-1, labels] if isinstance(labels, int) else df[labels].iloc[:-1]
    return [(str(lbl), float(n)) for lbl, n in zip(label_col, df[values].iloc[:-1], strict=True)]


def _reviews_panels(tables: dict[str, pd.DataFrame]) -> list[Panel]:
    """Internal reviews, ICO/SIC complaints and acknowledgements: the last row of each table (FOI and EIR)."""
    panels = []
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
        panels.append(Panel(title, table=html_table(rows)))
    return panels


def _caseload_sections(tables: dict[str, pd.DataFrame]) -> list[Section]:
    """Open caseload by team, and by officer and by stage when the tables have them (the officer view only when the
    CRM records assigned officers)."""
    sections = [Section([Panel("Open caseload by team", table=html_table(tables["open_caseload"]))])]
    for name, title in (
        ("open_caseload_by_officer", "Open caseload by officer"),
        ("open_caseload_by_stage", "Open caseload by stage"),
    ):
        df = tables.get(name)
        if df is not None:
            sections.append(Section([Panel(title, table=html_table(df))]))
    return sections


def build_dashboard(
    tables: dict[str, pd.DataFrame], *, council: str = "", title: str = "FOI compliance report"
) -> Dashboard:
    """Everything the template draws, worked out from the report tables."""
    s = _summary(tables)
    t_all = tables["timeliness_by_regime"].iloc[-1]
    team = tables["timeliness_by_team"]
    o = tables["outcomes"].iloc[-1]
    outcome_items = [
        (label, float(o[col]))
        for label, col in (
            ("Granted in full", C.GRANTED),
            ("Partially withheld", C.PARTIAL),
            ("Withheld in full: exemption", C.REFUSED_EXEMPTION),
            ("Withheld in full: cost limit", C.REFUSED_COST),
            ("Withheld in full: vexatious", C.REFUSED_VEXATIOUS),
            ("Withheld in full: repeated", C.REFUSED_REPEATED),
            ("Information not held", C.NOT_HELD),
            ("Advice and assistance", C.ADVICE),
            ("Response not yet provided", C.NOT_YET_PROVIDED),
        )
    ]
    ex = tables["exemptions"]
    ex = ex[ex["Uses"] > 0].sort_values("Uses", ascending=False).head(10)
    ex_items = [(str(lbl), float(n)) for lbl, n in zip(ex["Exemption or exception"], ex["Uses"], strict=True)]
    trend = tables["monthly_trend"]
    rt = tables["response_times"].iloc[-1]
    about = tables.get("about")
    timeliness = stacked_bar(
        [(C.MET, t_all[C.MET], GREEN), (C.EXTENDED, t_all[C.EXTENDED], AMBER), (C.LATE, t_all[C.LATE], RED)]
    )
    sections = [
        Section(
            [
                Panel(
                    "Monthly trend: requests received and % answered in time",
                    trend_chart(
                        list(trend["Month"]),
                        [float(v) for v in trend[C.TOTAL]],
                        [float(v) for v in trend[C.PCT_IN_TIME]],
                    ),
                )
            ],
            wide=True,
        ),
        Section(
            [
                Panel(
                    "Timeliness (FOI and EIR)",
                    timeliness,
                    note=f"Median {_fmt(rt['Median working days to respond'])} working days to respond\n"
                    f"(interquartile range {_fmt(rt['Interquartile range (working days)'])}).",
                    empty="No responses due yet in this period.",
                ),
                Panel(
                    "% in time by team",
                    hbar_chart(
                        [(str(t), float(p)) for t, p in zip(team["Team"], team[C.PCT_IN_TIME], strict=True)],
                        threshold=C.ICO_THRESHOLD,
                        max_value=100,
                        suffix="%",
                    ),
                ),
            ]
        ),
        Section(
            [
                Panel("Requests by regime", hbar_chart(_items(tables["volumes_by_regime"], 0, C.TOTAL))),
                Panel("Requests by channel", hbar_chart(_items(tables["volumes_by_channel"], 0, C.TOTAL))),
            ]
        ),
        Section([Panel("Initial outcomes (FOI and EIR)", hbar_chart(outcome_items, color=GREY))]),
        Section([Panel("Exemptions and exceptions applied (top 10)", hbar_chart(ex_items, color=AMBER))]),
    ]
    reviews = _reviews_panels(tables)
    if reviews:
        sections.append(Section(reviews))
    sections += _caseload_sections(tables)
    sections += [
        Section([Panel("Due soon", table=html_table(tables["due_soon"], LIST_LIMIT))]),
        Section([Panel("Overdue cases", table=html_table(tables["overdue"], LIST_LIMIT))], wide=True),
        Section(
            [Panel("How this report counts", empty="")],
            wide=True,
            notes=[(str(i), str(d)) for i, d in zip(about["Item"], about["Detail"], strict=True)]
            if about is not None
            else [],
        ),
    ]
    return Dashboard(
        title=title,
        council=council,
        period=str(s.get("Period (by date received)", "")),
        as_at=str(s.get("As at", "")),
        tiles=_tiles(s),
        sections=sections,
    )


@cache
def _environment() -> jinja2.Environment:
    """Sandboxed, autoescaping, strict: the same set-up as the letters (connector/letters/render.py)."""
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.PackageLoader("connector.reporting", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["f1"] = lambda v: f"{v:.1f}"  # SVG coordinates: one decimal is sub-pixel
    env.filters["f0"] = lambda v: f"{v:.0f}"
    env.filters["n"] = lambda v: f"{v:,}"  # counts with thousands separators
    return env


def render_dashboard(
    tables: dict[str, pd.DataFrame], *, council: str = "", title: str = "FOI compliance report"
) -> str:
    """The dashboard as one HTML string."""
    page = build_dashboard(tables, council=council, title=title)
    return _environment().get_template(TEMPLATE).render(page=page, c=COLOURS)


def write_dashboard(tables: dict[str, pd.DataFrame], path: Path, *, council: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dashboard(tables, council=council), encoding="utf-8")
    return path
