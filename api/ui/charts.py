"""Bar charts drawn on the server as inline SVG, for the back-test report.

No chart library and no script: the geometry is computed here and written out by the
``chart`` macro of ``templates/_chart.html`` (autoescaped like any text). Every chart comes
with the table of its numbers, which a screen reader and a test read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 640
LABEL_WIDTH = 210
VALUE_ROOM = 64  # room right of the longest bar for its number
BAR = 13
GAP = 2
ROW_GAP = 10
TOP = 6
LABEL_CHARS = 34


@dataclass(frozen=True)
class Bar:
    series: int  # index into Chart.series (its colour class: s0, s1)
    y: float
    width: float
    text: str  # the number as written beside the bar


@dataclass(frozen=True)
class Row:
    label: str  # in full (the table)
    short: str  # as drawn (may be cut)
    y: float  # the label's baseline
    bars: tuple[Bar, ...]
    values: tuple[str, ...]  # per series, for the table


@dataclass(frozen=True)
class Chart:
    """A horizontal grouped bar chart: one row per label, one bar per series."""

    key: str  # the element ids' stem
    title: str
    description: str  # the SVG's aria-label
    series: tuple[str, ...]
    rows: tuple[Row, ...]
    height: float
    width: int = WIDTH
    label_width: int = LABEL_WIDTH


def count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def bar_chart(
    key: str,
    title: str,
    series: Sequence[str],
    rows: Sequence[tuple[str, Sequence[float | None]]],
    written: Callable[[float | None], str] = count,
    top: float | None = None,
) -> Chart:
    """``rows`` of (label, one value per series; None when unknown, drawn as no bar);
    bars scaled to ``top`` (default: the largest value)."""
    largest = max((v for _, values in rows for v in values if v is not None), default=0.0)
    scale_top = top if top is not None else largest
    plot = WIDTH - LABEL_WIDTH - VALUE_ROOM
    drawn: list[Row] = []
    y = float(TOP)
    group = len(series) * (BAR + GAP)
    for label, values in rows:
        bars = []
        for index, value in enumerate(values):
            length = (value or 0.0) / scale_top * plot if scale_top else 0.0
            bars.append(Bar(index, y + index * (BAR + GAP), max(length, 0.0), written(value)))
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        drawn.append(
            Row(label, short, y + group / 2 + 4, tuple(bars), tuple(written(v) for v in values))
        )
        y += group + ROW_GAP
    summary = "; ".join(
        f"{row.label}: "
        + ", ".join(f"{name} {value}" for name, value in zip(series, row.values, strict=True))
        for row in drawn
    )
    if len(drawn) > 8:  # the table beside it gives every number
        summary = f"{len(drawn)} rows; the table below the chart gives every number"
    return Chart(key, title, f"{title}. {summary}", tuple(series), tuple(drawn), y + TOP)
