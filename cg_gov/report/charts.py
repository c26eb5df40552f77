"""Static SVG charts for the report, written by hand (no JavaScript, no plotting library).

Each function returns a complete SVG document as a string. All text placed in
a chart goes through :func:`_esc`; the report embeds the SVG as an ``<img>``
data URI, where a browser runs no script even if one got in.
"""
from __future__ import annotations

import math
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

from cg_gov.findings.verdict import VERDICT_WORDS

__all__ = ["VERDICT_COLORS", "coverage_distribution_svg", "missing_by_benchmark_svg",
           "family_scatter_svg", "family_verdict_svg", "ScatterPoint", "VerdictRow"]

FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
INK = "#222222"
GRID = "#d9d9d9"
MUTED = "#6b6b6b"

#: Fill colour per verdict, shared with the report's CSS badges; every coloured mark also carries the
#: verdict as text, so colour never carries meaning alone.
VERDICT_COLORS = {
    "fail": "#a50026",
    "conditional": "#b36b00",
    "pass": "#2e8540",
}


def _esc(text: str) -> str:
    return escape(str(text))


def _n(value: float) -> str:
    """Coordinates with 2 decimals, so the output is stable across platforms."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text(x: float, y: float, content: str, size: float = 10, anchor: str = "start",
          fill: str = INK, weight: str = "normal", rotate: float | None = None) -> str:
    transform = f' transform="rotate({_n(rotate)} {_n(x)} {_n(y)})"' if rotate is not None else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" font-family={quoteattr(FONT)} font-size="{_n(size)}" '
            f'text-anchor="{anchor}" fill="{fill}" font-weight="{weight}"{transform}>'
            f"{_esc(content)}</text>")


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = INK, width: float = 1,
          dash: str | None = None) -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}" '
            f'stroke-width="{_n(width)}"{dashed}/>')


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(title)}>'
            f"<title>{_esc(title)}</title>"
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>'
            + "".join(body) + "</svg>")


def _log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten covering [low, high]."""
    first = math.floor(math.log10(low))
    last = math.ceil(math.log10(high))
    return [10.0 ** e for e in range(first, last + 1)]


def _tick_label(value: float) -> str:
    if 0.01 <= value < 1000:
        return f"{value:g}"
    return f"1e{int(round(math.log10(value)))}"


def coverage_distribution_svg(ranks: Sequence[int], values: Sequence[float], n_concepts: int,
                              n_zero: int, top_1pct_share: float | None = None,
                              width: int = 640, height: int = 280) -> str:
    """Sorted chi_bench of every concept on a log scale: how skewed the suite's coverage is.

    ``ranks``/``values`` sample the descending sort of chi_bench; concepts at 0
    cannot sit on a log axis and are drawn as a shaded band at the right.
    """
    title = "Coverage of each concept by the suite (chi_bench, sorted, log scale)"
    left, right, top, bottom = 62, 16, 18, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    body: list[str] = []
    positive = [(r, v) for r, v in zip(ranks, values) if v > 0]
    if n_concepts <= 0 or not positive:
        body.append(_text(width / 2, height / 2, "No concept is active in the suite.", 12, "middle"))
        return _svg(width, height, title, body)
    low = min(v for _, v in positive)
    high = max(v for _, v in positive)
    ticks = _log_ticks(low, high)
    lo_e, hi_e = math.log10(ticks[0]), math.log10(ticks[-1])
    if hi_e == lo_e:
        hi_e = lo_e + 1
    span = max(1, n_concepts - 1)

    def x_of(rank: float) -> float:
        return left + plot_w * rank / span

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (math.log10(value) - lo_e) / (hi_e - lo_e))

    for tick in ticks:
        y = y_of(tick)
        body.append(_line(left, y, left + plot_w, y, GRID, 0.6))
        body.append(_text(left - 6, y + 3.5, _tick_label(tick), 9, "end", MUTED))
    if n_zero > 0:
        x0 = x_of(n_concepts - n_zero)
        body.append(f'<rect x="{_n(x0)}" y="{top}" width="{_n(left + plot_w - x0)}" height="{plot_h}" '
                    f'fill="#f2d7d5"/>')
        body.append(_text((x0 + left + plot_w) / 2, top + 14,
                          f"{n_zero:,} never active", 9, "middle", "#8b1a1a"))
    if ticks[0] <= 1 <= ticks[-1]:
        y1 = y_of(1.0)
        body.append(_line(left, y1, left + plot_w, y1, MUTED, 0.8, "4 3"))
        body.append(_text(left + plot_w - 4, y1 - 4, "suite average = 1", 9, "end", MUTED))
    points = " ".join(f"{_n(x_of(r))},{_n(y_of(v))}" for r, v in positive)
    body.append(f'<polyline points="{points}" fill="none" stroke="#2c5d8f" stroke-width="1.8"/>')
    body.append(_line(left, top, left, top + plot_h))
    body.append(_line(left, top + plot_h, left + plot_w, top + plot_h))
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        rank = round(frac * span)
        x = x_of(rank)
        body.append(_line(x, top + plot_h, x, top + plot_h + 4))
        body.append(_text(x, top + plot_h + 15, f"{rank:,}", 9, "middle", MUTED))
    axis = f"concepts, most covered first ({n_concepts:,} in the dictionary)"
    if top_1pct_share is not None:
        axis += f"; top 1% hold {top_1pct_share * 100:.0f}% of coverage"
    body.append(_text(left + plot_w / 2, height - 8, axis, 10, "middle"))
    body.append(_text(14, top + plot_h / 2, "chi_bench (log)", 10, "middle", rotate=-90))
    return _svg(width, height, title, body)


def missing_by_benchmark_svg(rows: Sequence[tuple[str, float]], width: int = 640,
                             bar_height: int = 18) -> str:
    """Horizontal bars: percentage of the dictionary's concepts each benchmark never activates."""
    title = "Concepts missing from each benchmark (% of the dictionary)"
    longest = max((len(name) for name, _ in rows), default=10)
    label_w, right, top = max(90, int(_CHAR_W * 10 / 9 * longest) + 16), 48, 10
    height = top + max(1, len(rows)) * (bar_height + 6) + 34
    plot_w = width - label_w - right
    body: list[str] = []
    for pct in (0, 25, 50, 75, 100):
        x = label_w + plot_w * pct / 100
        body.append(_line(x, top, x, height - 28, GRID, 0.6))
        body.append(_text(x, height - 14, f"{pct}%", 9, "middle", MUTED))
    for i, (name, pct) in enumerate(rows):
        y = top + i * (bar_height + 6)
        body.append(_text(label_w - 8, y + bar_height * 0.7, name, 10, "end"))
        w = plot_w * max(0.0, min(100.0, pct)) / 100
        body.append(f'<rect x="{label_w}" y="{_n(y)}" width="{_n(w)}" height="{bar_height}" '
                    f'fill="#7a9cc6"/>')
        body.append(_text(label_w + w + 4, y + bar_height * 0.7, f"{pct:.1f}%", 9, "start", INK))
    if not rows:
        body.append(_text(width / 2, top + 14, "No benchmark in the suite.", 11, "middle"))
    body.append(_line(label_w, top, label_w, height - 28))
    return _svg(width, height, title, body)


class ScatterPoint:
    """One family in the coverage-vs-performance chart."""

    __slots__ = ("label", "ratio", "ratio_ci", "score", "score_ci", "verdict", "min_score")

    def __init__(self, label: str, ratio: float, ratio_ci: tuple[float, float] | None,
                 score: float, score_ci: tuple[float, float] | None, verdict: str,
                 min_score: float | None = None) -> None:
        self.label, self.ratio, self.ratio_ci = label, ratio, ratio_ci
        self.score, self.score_ci, self.verdict = score, score_ci, verdict
        self.min_score = min_score


#: Approximate advance of one character of a 9-unit label, for label placement.
_CHAR_W = 5.2


def place_labels(anchors: Sequence[tuple[float, float, str, str]], bounds: tuple[float, float, float, float],
                 size: float = 9.0, obstacles: Sequence[tuple[float, float, float, float]] = ()
                 ) -> list[tuple[float, float, str]]:
    """Non-overlapping label positions: ``anchors`` are (x, y, text, side "start"/"end") of points;
    returns (x, y baseline, anchor) per label, moved up or down in steps until its box overlaps no
    label already placed nor any of ``obstacles`` (boxes, e.g. the points), and stays inside
    ``bounds`` = (left, top, right, bottom)."""
    placed: list[tuple[float, float, float, float]] = list(obstacles)
    out: list[tuple[float, float, str]] = []
    left, top, right, bottom = bounds
    step = size + 2
    for x, y, text, side in anchors:
        w = _CHAR_W * len(text) * size / 9.0
        tx = x - 7 if side == "end" else x + 7
        x0, x1 = (tx - w, tx) if side == "end" else (tx, tx + w)
        chosen = None
        for k in range(0, 40):
            dy = (k + 1) // 2 * step * (1 if k % 2 else -1)
            base = y - 6 + dy
            box = (x0, base - size, x1, base + 2)
            if box[1] < top or box[3] > bottom:
                continue
            if all(box[2] <= b[0] or box[0] >= b[2] or box[3] <= b[1] or box[1] >= b[3] for b in placed):
                chosen = (tx, base, box)
                break
        if chosen is None:
            chosen = (tx, y - 6, (x0, y - 6 - size, x1, y - 4))
        placed.append(chosen[2])
        out.append((chosen[0], chosen[1], "end" if side == "end" else "start"))
    return out


def family_scatter_svg(points: Sequence[ScatterPoint], k: float = 4.0, width: int = 640,
                       height: int = 400) -> str:
    """Families: coverage ratio (log x) against performance score (y), with CI whiskers.

    A dashed line marks ratio 1 (tested as much as the reference), a dotted one 1/k (the
    under-representation threshold); a short red bar at a family's ratio marks its required
    minimum score where the profile states one. Labels are placed so they do not overprint; a
    legend under the axis names the colours and lines. Ratios are clipped to the axis.
    """
    title = "Families: coverage ratio against model performance, with 95% intervals"
    left, right, top, bottom = 56, 20, 16, 96
    plot_w, plot_h = width - left - right, height - top - bottom
    body: list[str] = []
    values = [p.ratio for p in points if p.ratio > 0]
    for p in points:
        if p.ratio_ci:
            values.extend(v for v in p.ratio_ci if v > 0)
    low = min(values + [1.0 / max(k, 1.0001), 0.1])
    high = max(values + [2.0])
    ticks = _log_ticks(max(low, 1e-4), min(high, 1e4))
    lo_e, hi_e = math.log10(ticks[0]), math.log10(ticks[-1])

    def x_of(ratio: float) -> float:
        ratio = min(max(ratio, ticks[0]), ticks[-1])
        return left + plot_w * (math.log10(ratio) - lo_e) / (hi_e - lo_e)

    def y_of(score: float) -> float:
        return top + plot_h * (1 - min(max(score, 0.0), 1.0))

    for tick in ticks:
        x = x_of(tick)
        body.append(_line(x, top, x, top + plot_h, GRID, 0.6))
        body.append(_text(x, top + plot_h + 14, _tick_label(tick), 9, "middle", MUTED))
    for score in (0, 0.25, 0.5, 0.75, 1.0):
        y = y_of(score)
        body.append(_line(left, y, left + plot_w, y, GRID, 0.6))
        body.append(_text(left - 6, y + 3.5, f"{score:g}", 9, "end", MUTED))
    body.append(_line(x_of(1.0), top, x_of(1.0), top + plot_h, MUTED, 0.9, "4 3"))
    body.append(_line(x_of(1.0 / k), top, x_of(1.0 / k), top + plot_h, "#a50026", 0.9, "1.5 2.5"))
    body.append(_line(left, top, left, top + plot_h))
    body.append(_line(left, top + plot_h, left + plot_w, top + plot_h))
    ordered = sorted(points, key=lambda p: (-list(VERDICT_COLORS).index(
        p.verdict if p.verdict in VERDICT_COLORS else "pass"), p.label))
    anchors = []
    for p in ordered:
        color = VERDICT_COLORS.get(p.verdict, MUTED)
        x, y = x_of(p.ratio), y_of(p.score)
        if p.min_score is not None:
            ry = y_of(p.min_score)
            body.append(_line(x - 12, ry, x + 12, ry, "#a50026", 2.0))
            body.append(_line(x, y, x, ry, "#a50026", 0.6, "2 2"))
        if p.ratio_ci:
            body.append(_line(x_of(p.ratio_ci[0]), y, x_of(p.ratio_ci[1]), y, color, 1.2))
        if p.score_ci:
            body.append(_line(x, y_of(p.score_ci[0]), x, y_of(p.score_ci[1]), color, 1.2))
        body.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="4.5" fill="{color}" stroke="#ffffff" '
                    f'stroke-width="1"/>')
        label = f"{p.label} ({VERDICT_WORDS.get(p.verdict, p.verdict)})"
        anchors.append((x, y, label, "end" if x > left + plot_w * 0.7 else "start"))
    by_y = sorted(range(len(anchors)), key=lambda i: (anchors[i][1], anchors[i][0]))
    points_boxes = [(x - 5, y - 5, x + 5, y + 5) for x, y, _, _ in anchors]
    spots = place_labels([anchors[i] for i in by_y], (left, top, left + plot_w, top + plot_h),
                         obstacles=points_boxes)
    for i, (tx, ty, anchor) in zip(by_y, spots):
        x, y, label, _ = anchors[i]
        if abs(ty - (y - 6)) > 1:
            body.append(_line(x, y, tx + (-2 if anchor == "end" else 2), ty - 3, MUTED, 0.5))
        body.append(_text(tx, ty, label, 9, anchor, INK))
    body.append(_text(left + plot_w / 2, top + plot_h + 32,
                      "coverage ratio, suite / reference (log scale)", 10, "middle"))
    body.append(_text(14, top + plot_h / 2, "performance score", 10, "middle", rotate=-90))
    # legend
    ly = top + plot_h + 52
    x = left
    body.append(_text(x, ly + 3.5, "verdict (also written after each label):", 9, "start", MUTED))
    x += 205
    for verdict, color in VERDICT_COLORS.items():
        word = VERDICT_WORDS[verdict]
        body.append(f'<rect x="{_n(x)}" y="{_n(ly - 4)}" width="8" height="8" rx="2" fill="{color}"/>')
        body.append(_text(x + 11, ly + 3.5, word, 9, "start", INK))
        x += 16 + _CHAR_W * len(word) + 8
    ly += 18
    x = left
    body.append(_line(x, ly, x + 22, ly, MUTED, 0.9, "4 3"))
    body.append(_text(x + 27, ly + 3.5, "ratio 1 (as much as the reference)", 9, "start", INK))
    x += 27 + _CHAR_W * 34 + 14
    body.append(_line(x, ly, x + 22, ly, "#a50026", 0.9, "1.5 2.5"))
    body.append(_text(x + 27, ly + 3.5, f"1/k = {1.0 / k:g} (under-represented below)", 9, "start", INK))
    x += 27 + _CHAR_W * 36 + 14
    body.append(_line(x, ly, x + 16, ly, "#a50026", 2.0))
    body.append(_text(x + 21, ly + 3.5, "required minimum score", 9, "start", INK))
    return _svg(width, height, title, body)


class VerdictRow:
    """One family in the verdict chart: its score with interval and n, its threshold, its verdict."""

    __slots__ = ("label", "score", "score_ci", "n", "min_score", "verdict", "why")

    def __init__(self, label: str, score: float | None, score_ci: tuple[float, float] | None, n: int,
                 min_score: float | None, verdict: str, why: str = "") -> None:
        self.label, self.score, self.score_ci, self.n = label, score, score_ci, n
        self.min_score, self.verdict, self.why = min_score, verdict, why


def family_verdict_svg(rows: Sequence[VerdictRow], width: int = 640, row_height: int = 24) -> str:
    """One row per family: its score (dot) with the 95% interval (bar), the required minimum score
    (a dark tick with its value), and the verdict written at the right; a family without a score says
    why in words. Colours follow the verdict and every mark's meaning is also written."""
    title = "Each family's score with its 95% interval and n, against its required minimum, with the verdict"
    label_w = max(90, int(_CHAR_W * max((len(r.label) for r in rows), default=10)) + 14)
    verdict_w = 96
    left, right, top, bottom = label_w, verdict_w + 10, 24, 60
    plot_w = width - left - right
    height = top + max(1, len(rows)) * row_height + bottom
    body: list[str] = []

    def x_of(score: float) -> float:
        return left + plot_w * min(max(score, 0.0), 1.0)

    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = x_of(tick)
        body.append(_line(x, top - 4, x, top + len(rows) * row_height, GRID, 0.6))
        body.append(_text(x, top + len(rows) * row_height + 14, f"{tick:g}", 9, "middle", MUTED))
    body.append(_text(left + plot_w / 2, top + len(rows) * row_height + 30,
                      "score on the family's items (1 = every item passed)", 10, "middle"))
    body.append(_text(width - right + 8, top - 8, "verdict", 9, "start", MUTED))
    for i, r in enumerate(rows):
        y = top + i * row_height + row_height / 2
        color = VERDICT_COLORS.get(r.verdict, MUTED)
        body.append(_text(left - 8, y + 3.5, r.label, 10, "end"))
        body.append(_text(width - right + 8, y + 3.5, VERDICT_WORDS.get(r.verdict, r.verdict), 9, "start",
                          color, "bold"))
        if r.min_score is not None:
            mx = x_of(r.min_score)
            body.append(_line(mx, y - 8, mx, y + 8, INK, 2.0))
            body.append(_text(mx + 3, y - 6, f"min {r.min_score:g}", 8, "start", INK))
        if r.score is None:
            body.append(_text(left + 4, y + 3.5, r.why or "no score", 9, "start", MUTED))
            continue
        if r.score_ci:
            body.append(_line(x_of(r.score_ci[0]), y, x_of(r.score_ci[1]), y, color, 2.0))
        x = x_of(r.score)
        body.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="4.5" fill="{color}" stroke="#ffffff" '
                    f'stroke-width="1"/>')
        note = f"{r.score:.2f}, n = {r.n}"
        right_side = x < left + plot_w * 0.72
        body.append(_text(x + (8 if right_side else -8), y + 12, note, 8, "start" if right_side else "end", INK))
    ly = top + len(rows) * row_height + 48
    body.append(f'<circle cx="{_n(left + 4)}" cy="{_n(ly)}" r="4" fill="{MUTED}"/>')
    body.append(_text(left + 12, ly + 3.5, "score", 9, "start", INK))
    body.append(_line(left + 50, ly, left + 72, ly, MUTED, 2.0))
    body.append(_text(left + 77, ly + 3.5, "95% interval", 9, "start", INK))
    body.append(_line(left + 150, ly - 6, left + 150, ly + 6, INK, 2.0))
    body.append(_text(left + 155, ly + 3.5, "required minimum score", 9, "start", INK))
    return _svg(width, height, title, body)
