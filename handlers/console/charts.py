"""Charts drawn on the server: Python works out every bar, line and label; a Jinja macro writes them as SVG.

No JavaScript and no files from elsewhere, so the strict Content-Security-Policy holds. Colours are SVG
attributes (not styles); a viewBox lets CSS scale each chart to the width of a laptop or a phone.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 640
LEFT, RIGHT, TOP, AXIS = 48, 14, 14, 38  # margins around the plot; AXIS: room for the x labels
LEGEND_ROW, CHAR = 20, 8.0  # a legend line's height; about one character's width at the chart's font size
ROW = 26  # one bar of a horizontal bar chart
LABELS = 200  # room for the step names left of horizontal bars
MAX_TICKS = 13  # x labels shown at most; the others are in the tooltips and the table
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7f6a2e", "#6b6ecf", "#7f7f7f",
           "#b5b82a", "#17a2b8", "#393b79")  # Okabe-Ito first: told apart also by colour-blind readers
INK = "#1d2433"
EMPTY = "Geen gegevens in deze periode"


@dataclass(frozen=True)
class Bar:
    """A filled rectangle with a tooltip."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    tip: str = ""


@dataclass(frozen=True)
class Line:
    """A polyline through points "x,y x,y ..."; dashed for a target."""

    points: str
    colour: str
    dashed: bool = False


@dataclass(frozen=True)
class Dot:
    """A point of a line, with a tooltip."""

    x: float
    y: float
    colour: str
    tip: str


@dataclass(frozen=True)
class Text:
    """A text label; kind is its CSS class (axis, label, empty)."""

    x: float
    y: float
    text: str
    anchor: str = "middle"
    kind: str = "axis"


@dataclass(frozen=True)
class Rule:
    """A straight line: a grid line or an axis."""

    x1: float
    y1: float
    x2: float
    y2: float
    kind: str = "grid"


@dataclass
class Chart:
    """Everything one SVG holds; `summary` is its accessible description."""

    key: str
    title: str
    summary: str
    height: float = 0.0
    width: float = WIDTH
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)


Series = tuple[str, Sequence[float | None]]
Entry = tuple[str, str, bool]  # a legend line: name, colour, drawn as a dashed line (a target) or a swatch


def colour(index: int) -> str:
    """Return the palette's colour for the n-th series."""
    return PALETTE[index % len(PALETTE)]


def stacked_bars(key: str, title: str, summary: str, weeks: Sequence[str], series: Sequence[Series],
                 overlay: Series | None = None, unit: str = "") -> Chart:
    """Draw one stacked bar per week, series on top of each other, and optionally a line over them."""
    totals = [sum(s[1][i] or 0 for s in series) for i in range(len(weeks))]
    peak = max(totals + [v or 0 for v in (overlay[1] if overlay else ())] + [0])
    legend = [(name, colour(n), False) for n, (name, _) in enumerate(series)] + ([(overlay[0], INK, False)]
                                                                                 if overlay else [])
    chart, plot = _frame(key, title, summary, weeks, peak, legend, whole=True)
    slot = plot.width / max(len(weeks), 1)
    for i, week in enumerate(weeks):
        base = 0.0
        for n, (name, values) in enumerate(series):
            value = values[i] or 0
            if value:
                top = plot.y(base + value)
                chart.bars.append(Bar(round(plot.left + i * slot + slot * 0.15, 1), top, round(slot * 0.7, 1),
                                      round(plot.y(base) - top, 1), colour(n), f"{week} · {name}: {_num(value)}{unit}"))
            base += value
    if overlay:
        _polyline(chart, plot, weeks, overlay, INK)
    return chart


def line_chart(key: str, title: str, summary: str, weeks: Sequence[str], series: Sequence[Series],
               target: tuple[str, float] | None = None, top: float | None = None, unit: str = "") -> Chart:
    """Draw one line per series over the weeks (a gap where a week has no value) and a dashed target line."""
    peak = top if top is not None else max([v or 0 for s in series for v in s[1]] + [target[1] if target else 0])
    legend = [(name, colour(n), False) for n, (name, _) in enumerate(series)] + ([(target[0], INK, True)]
                                                                                 if target else [])
    chart, plot = _frame(key, title, summary, weeks, peak, legend)
    for n, one in enumerate(series):
        _polyline(chart, plot, weeks, one, colour(n), unit)
    if target:
        y = plot.y(target[1])
        chart.lines.append(Line(f"{plot.left},{y} {plot.left + plot.width},{y}", INK, dashed=True))
    return chart


def horizontal_bars(key: str, title: str, summary: str, labels: Sequence[str], series: Sequence[Series],
                    unit: str = "") -> Chart:
    """Draw one horizontal stacked bar per label (the funnel's steps, error codes), label text on the left."""
    totals = [sum(s[1][i] or 0 for s in series) for i in range(len(labels))]
    step = max(1.0, _step(max(totals + [0])))
    peak = step * max(1, math.ceil(max(totals + [0]) / step))
    left, width = LABELS, WIDTH - LABELS - RIGHT
    chart = Chart(key, title, summary)
    bottom = TOP + ROW * max(len(labels), 1)
    for tick in _ticks(peak, step):
        x = round(left + width * tick / peak, 1)
        chart.rules.append(Rule(x, TOP, x, bottom))
        chart.texts.append(Text(x, bottom + 16, _num(tick)))
    for i, label in enumerate(labels):
        y = TOP + i * ROW
        chart.texts.append(Text(left - 6, y + ROW * 0.65, _short(label, 26), "end", "label"))
        base = 0.0
        for n, (name, values) in enumerate(series):
            value = values[i] or 0
            if value:
                x = left + width * base / peak
                chart.bars.append(Bar(round(x, 1), y + 3, round(width * value / peak, 1), ROW - 6, colour(n),
                                      f"{label} · {name}: {_num(value)}{unit}"))
            base += value
        if totals[i]:
            chart.texts.append(Text(round(left + width * base / peak, 1) + 4, y + ROW * 0.65, _num(totals[i]),
                                    "start", "value"))
    if not any(totals):
        chart.texts.append(Text(left + width / 2, TOP + ROW / 2 + 4, EMPTY, kind="empty"))
    chart.height = _legend(chart, [(name, colour(n), False) for n, (name, _) in enumerate(series)], bottom + 44)
    return chart


@dataclass(frozen=True)
class _Plot:
    """The plot area of a chart with a y axis: where values go."""

    left: float
    top: float
    width: float
    height: float
    peak: float

    def y(self, value: float) -> float:
        return round(self.top + self.height * (1 - value / self.peak), 1)


def _frame(key: str, title: str, summary: str, weeks: Sequence[str], peak: float, legend: list[Entry],
           whole: bool = False) -> tuple[Chart, _Plot]:
    """Draw the grid, the y ticks, the week labels and the legend; return the chart and its plot area.

    whole=True: the values are counts, so the grid never steps by less than one.
    """
    chart = Chart(key, title, summary)
    step = max(1.0, _step(peak)) if whole else _step(peak)
    plot = _Plot(LEFT, TOP, WIDTH - LEFT - RIGHT, 200, step * max(1, math.ceil(peak / step)))
    bottom = plot.top + plot.height
    for tick in _ticks(plot.peak, step):
        chart.rules.append(Rule(plot.left, plot.y(tick), plot.left + plot.width, plot.y(tick)))
        chart.texts.append(Text(plot.left - 6, plot.y(tick) + 4, _num(tick), "end"))
    chart.rules.append(Rule(plot.left, bottom, plot.left + plot.width, bottom, "axis"))
    slot = plot.width / max(len(weeks), 1)
    every = math.ceil(len(weeks) / MAX_TICKS) or 1
    for i, week in enumerate(weeks):
        if i % every == 0:
            chart.texts.append(Text(round(plot.left + (i + 0.5) * slot, 1), bottom + 18, week.split("-")[-1]))
    if weeks:
        chart.texts.append(Text(plot.left, bottom + 34, f"{weeks[0]} – {weeks[-1]}", "start", "range"))
    if peak <= 0:
        chart.texts.append(Text(plot.left + plot.width / 2, plot.top + plot.height / 2, EMPTY, kind="empty"))
    chart.height = _legend(chart, legend, bottom + AXIS + 12)
    return chart, plot


def _polyline(chart: Chart, plot: _Plot, weeks: Sequence[str], series: Series, ink: str, unit: str = "") -> None:
    """Draw a series as lines between the weeks that have a value, with a dot (and tooltip) on each."""
    name, values = series
    slot = plot.width / max(len(weeks), 1)
    run: list[str] = []
    for i, value in enumerate(list(values) + [None]):
        if value is None:
            if len(run) > 1:
                chart.lines.append(Line(" ".join(run), ink))
            run = []
            continue
        x, y = round(plot.left + (i + 0.5) * slot, 1), plot.y(value)
        run.append(f"{x},{y}")
        chart.dots.append(Dot(x, y, ink, f"{weeks[i]} · {name}: {_num(value)}{unit}"))


def _legend(chart: Chart, entries: list[Entry], top: float) -> float:
    """Write the legend (name, colour, dashed line or swatch) under the plot, wrapping lines; return the height."""
    x, y = float(LEFT), top
    for name, ink, dashed in entries:
        width = 22 + CHAR * len(name)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, y = float(LEFT), y + LEGEND_ROW
        if dashed:
            chart.lines.append(Line(f"{x},{y - 4} {x + 14},{y - 4}", ink, dashed=True))
        else:
            chart.bars.append(Bar(x, y - 10, 12, 12, ink))
        chart.texts.append(Text(x + 18, y, name, "start", "legend"))
        x += width + 12
    return y + 10


def _step(peak: float) -> float:
    """Return a round tick step (1, 2 or 5 times a power of ten) giving about four grid lines."""
    if peak <= 0:
        return 1.0
    raw = peak / 4
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _ticks(peak: float, step: float) -> list[float]:
    return [i * step for i in range(int(round(peak / step)) + 1)]


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
