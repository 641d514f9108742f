"""`train --plot FILE.svg`: the loss and the accuracy (or perplexity) of every epoch as an
SVG line chart.

Written here in plain SVG rather than through a plotting library: a chart of a few
lines over a few dozen epochs needs axes, ticks, polylines and a legend, about a hundred
lines; a library for it (matplotlib pulls in a dozen packages and tens of megabytes;
pygal is smaller but little maintained) would be the project's largest dependency by far,
for one option. The file is plain text, the same for the same run, and every point carries
its value as a tooltip (<title>), so it can be read back (the tests do).
"""

from __future__ import annotations

import math
from html import escape

from nbengine.i18n import _

WIDTH, HEIGHT = 420, 280  # one panel
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 44
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def _series(events: list[dict], keep) -> dict[str, list[tuple[int, float]]]:
    found: dict[str, list[tuple[int, float]]] = {}
    for e in events:
        for key, v in e.items():
            if (
                keep(key)
                and isinstance(v, (int, float))
                and not isinstance(v, bool)
                and math.isfinite(v)
            ):
                found.setdefault(key, []).append((int(e["epoch"]), float(v)))
    return found


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round numbers covering [lo, hi]."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.floor(lo / step) * step
    return [first + k * step for k in range(int(math.ceil((hi - first) / step)) + 1)]


def _label(v: float) -> str:
    return f"{v:.4g}"


def _panel(
    x0: int, title: str, series: dict[str, list[tuple[int, float]]], epochs: int
) -> list[str]:
    out = [
        f'<g transform="translate({x0},0)">',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
    ]
    if not series:
        empty = escape(_("no values"))
        out.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">{empty}</text></g>'
        )
        return out
    values = [v for points in series.values() for _, v in points]
    ys = _ticks(min(values), max(values))
    lo, hi = ys[0], ys[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(epoch: int) -> float:
        return LEFT + (plot_w * (epoch - 1) / (epochs - 1) if epochs > 1 else plot_w / 2)

    def py(v: float) -> float:
        return TOP + plot_h * (1 - (v - lo) / (hi - lo))

    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>'
    )
    for y in ys:
        out.append(
            f'<line x1="{LEFT - 4}" x2="{LEFT + plot_w}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#eee"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end" font-size="11">{_label(y)}</text>'
        )
    step = max(1, math.ceil(epochs / 10))
    for e in range(1, epochs + 1, step):
        out.append(
            f'<text x="{px(e):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="11">{e}</text>'
        )
    axis = escape(_("epoch"))
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12">{axis}</text>'
    )
    for k, (name, points) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        line = " ".join(f"{px(e):.1f},{py(v):.1f}" for e, v in points)
        out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for e, v in points:
            tip = escape(
                _("epoch {e}: {name} {value}").format(e=e, name=name, value=format(v, ".4f"))
            )
            out.append(
                f'<circle cx="{px(e):.1f}" cy="{py(v):.1f}" r="3" fill="{colour}"><title>{tip}</title></circle>'
            )
        out.append(
            f'<rect x="{LEFT + 8}" y="{TOP + 8 + 16 * k}" width="10" height="10" fill="{colour}"/>'
        )
        out.append(
            f'<text x="{LEFT + 22}" y="{TOP + 17 + 16 * k}" font-size="11">{escape(name)}</text>'
        )
    out.append("</g>")
    return out


def epoch_chart(events: list[dict], title: str = "") -> str:
    """An SVG of two panels: every loss of the epoch events, and every accuracy (or, for a
    language model, every perplexity)."""
    epochs = max((int(e["epoch"]) for e in events), default=1)
    losses = _series(events, lambda k: k.endswith("loss"))
    scores = _series(events, lambda k: "accuracy" in k)
    right = _("accuracy per epoch")
    if not scores:
        scores, right = _series(events, lambda k: "perplexity" in k), _("perplexity per epoch")
    width = 2 * WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT + 24}" '
        f'viewBox="0 0 {width} {HEIGHT + 24}" font-family="sans-serif">',
        f"<title>{escape(title)}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{width / 2}" y="{HEIGHT + 18}" text-anchor="middle" font-size="11" fill="#666">'
        f"{escape(title)}</text>",
    ]
    parts += _panel(0, _("loss per epoch"), losses, epochs)
    parts += _panel(WIDTH, right, scores, epochs)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
