"""The HTML report of a batch run: one self-contained file that opens offline.

No scripts, fonts or images are fetched: the charts are inline SVG drawn here, the styles
are inline CSS. Charts: lanes, flags per rule, flags per pattern, risk-score histogram; then
the riskiest manifests with the sentence behind each flag.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from assay.engine.batch.outcomes import Summary

_NO_FLAGS = '<tr><td colspan="4" class="empty">No manifest was flagged.</td></tr>'
_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}


def _bars(
    title: str, data: Sequence[tuple[str, int]], chart_id: str, colour: str = "#1565c0"
) -> str:
    """A horizontal bar chart as SVG; one bar per (label, value)."""
    if not data:
        return (
            f'<section><h2>{html.escape(title)}</h2><p class="empty">Nothing to show.</p></section>'
        )
    width, bar, gap, label_width = 720, 18, 6, 300
    peak = max(value for _, value in data) or 1
    height = len(data) * (bar + gap) + gap
    rows = []
    for index, (label, value) in enumerate(data):
        y = gap + index * (bar + gap)
        length = max(1.0, (width - label_width - 70) * value / peak)
        fill = _COLOURS.get(label, colour)
        rows.append(
            f'<text x="{label_width - 8}" y="{y + bar - 5}" text-anchor="end">'
            f"{html.escape(label)}</text>"
            f'<rect class="bar" x="{label_width}" y="{y}" width="{length:.1f}" height="{bar}" '
            f'fill="{fill}"><title>{html.escape(label)}: {value:,}</title></rect>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + bar - 5}">{value:,}</text>'
        )
    return (
        f"<section><h2>{html.escape(title)}</h2>"
        f'<svg id="{chart_id}" class="chart" role="img" aria-label="{html.escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">{"".join(rows)}</svg>'
        "</section>"
    )


def _histogram(summary: Summary) -> str:
    buckets = [0] * 10  # 0-9, 10-19, ... 90-100
    for score, count in summary.scores.items():
        buckets[min(score // 10, 9)] += count
    labels = [f"{10 * n}-{10 * n + 9 if n < 9 else 100}" for n in range(10)]
    width, height, pad = 720, 220, 30
    peak = max(buckets) or 1
    column = (width - 2 * pad) / 10
    bars = []
    for n, count in enumerate(buckets):
        h = (height - 2 * pad) * count / peak
        x = pad + n * column
        bars.append(
            f'<rect class="bar" x="{x + 2:.1f}" y="{height - pad - h:.1f}" '
            f'width="{column - 4:.1f}" '
            f'height="{h:.1f}" fill="#6a1b9a"><title>score {labels[n]}: {count:,}</title></rect>'
            f'<text x="{x + column / 2:.1f}" y="{height - pad + 14}" text-anchor="middle">'
            f"{labels[n]}</text>"
        )
    return (
        "<section><h2>Risk score histogram</h2>"
        f'<svg id="chart-scores" class="chart" role="img" aria-label="Risk score histogram" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">{"".join(bars)}</svg>'
        "</section>"
    )


def render(summary: Summary, title: str, ruleset: str) -> str:
    channels = [(lane, summary.channels.get(lane, 0)) for lane in ("green", "yellow", "red")]
    rules = summary.rules.most_common(25)
    patterns = summary.patterns.most_common()
    rate = summary.items / summary.seconds if summary.seconds else 0.0
    rows = []
    for result in summary.riskiest():
        flags = "".join(
            f"<li><b>{html.escape(f['rule_id'])}</b> ({html.escape(f['severity'])}): "
            f"{html.escape(f['explanation'])}</li>"
            for f in result["flags"]
        )
        lane = result["channel"]
        rows.append(
            f"<tr><td>{html.escape(result['manifest_id'])}</td>"
            f'<td><span class="lane {lane}">{lane}</span></td>'
            f"<td>{result['risk_score']}</td><td><ul>{flags}</ul></td></tr>"
        )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; }}
.figures {{ display: flex; gap: 1.5rem; flex-wrap: wrap; }}
.figure {{ background: #f5f5f5; padding: .6rem 1rem; border-radius: 6px; }}
.figure b {{ display: block; font-size: 1.3rem; }}
svg.chart text {{ font-size: 12px; fill: #333; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-top: 1px solid #ddd; padding: .4rem; vertical-align: top; text-align: left; }}
ul {{ margin: 0; padding-left: 1.1rem; }}
.lane {{ padding: 0 .4rem; border-radius: 3px; color: #fff; }}
.green {{ background: #2e7d32; }} .yellow {{ background: #f9a825; color: #222; }}
.red {{ background: #c62828; }} .empty {{ color: #777; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Rule pack {html.escape(ruleset)} · generated {generated}</p>
<div class="figures">
<div class="figure"><b>{summary.records:,}</b>records read</div>
<div class="figure"><b>{summary.results:,}</b>screened</div>
<div class="figure"><b>{summary.errors:,}</b>errors</div>
<div class="figure"><b>{summary.items:,}</b>goods items</div>
<div class="figure"><b>{rate:,.0f}</b>items/s</div>
</div>
{_bars("Manifests by lane", channels, "chart-channels")}
{_bars("Flags per rule", rules, "chart-rules")}
{_bars("Flags per pattern", patterns, "chart-patterns", "#00838f")}
{_histogram(summary)}
<section><h2>Riskiest manifests</h2>
<table id="riskiest"><thead>
<tr><th>Manifest</th><th>Lane</th><th>Score</th><th>Why</th></tr></thead>
<tbody>{"".join(rows) or _NO_FLAGS}</tbody>
</table></section>
</body></html>
"""
