"""A 2-D array drawn in the terminal as a heat map, with a legend of its range.

In colour, each character is two cells of the array: "▀" with the upper cell as its
foreground colour and the lower cell as its background, so a 28×28 image takes 28
columns and 14 lines. Values in [0, max] (pixels, activations) use a dark-to-bright
ramp (viridis-like, or grey); signed values (gradients, weights) use blue for
negative, white for 0 and red for positive, on a scale symmetric around 0.

Without colour (NO_COLOR set, or the output is not a terminal) each cell becomes two
characters of a ramp, one line per row: " .:-=+*#%@" from low to high, and for signed
data "≡=-·" for negative and "·+*#" for positive values, darkest farthest from 0.

The choice is made when the map is printed, from the console it is printed on, so
one renderable works for both, and it sits inside Rich tables and columns.
"""

from __future__ import annotations

import numpy as np
from rich.cells import cell_len
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.text import Text

from nbengine.i18n import _

RAMP = " .:-=+*#%@"  # low to high, for terminals without colour
NEG_RAMP = "·-=≡"  # |value| small to large, for negative values
POS_RAMP = "·+*#"  # the same for positive values
NAN_CHAR = "?"
LEGEND_CELLS = 8

# Control points of the colour ramps, low to high (RGB).
PALETTES = {
    "viridis": [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)],
    "grey": [(0, 0, 0), (255, 255, 255)],
    # blue, white, red: for data with a sign, white at 0
    "signed": [(33, 102, 172), (146, 197, 222), (247, 247, 247), (244, 165, 130), (178, 24, 43)],
}
NAN_COLOR = Color.from_rgb(255, 0, 255)


def colour_on(console: Console) -> bool:
    """Whether the console draws colours: a terminal, a colour system, no NO_COLOR."""
    return console.is_terminal and console.color_system is not None and not console.no_color


def _interpolate(points: list[tuple[int, int, int]], t: float) -> Color:
    """The colour at t in [0, 1] along the control points."""
    t = min(max(t, 0.0), 1.0)
    pos = t * (len(points) - 1)
    i = min(int(pos), len(points) - 2)
    f = pos - i
    a, b = points[i], points[i + 1]
    return Color.from_rgb(*(round(a[k] + (b[k] - a[k]) * f) for k in range(3)))


def _number(v: float) -> str:
    return f"{v + 0.0:.3g}"  # + 0.0: no "-0"


def half_blocks(colours: list[list[Color]]) -> Text:
    """Rows of colours, two rows per line of '▀': the upper row's colour in front, the
    lower row's behind (a last odd row over the terminal's own background)."""
    text = Text(no_wrap=True, overflow="crop")
    rows, cols = len(colours), len(colours[0])
    for r in range(0, rows, 2):
        top = colours[r]
        bottom = colours[r + 1] if r + 1 < rows else [None] * cols
        c = 0
        while c < cols:  # a run of equal pairs is one styled piece
            end = c
            while end < cols and top[end] == top[c] and bottom[end] == bottom[c]:
                end += 1
            text.append("▀" * (end - c), Style(color=top[c], bgcolor=bottom[c]))
            c = end
        if r + 2 < rows:
            text.append("\n")
    return text


class HeatMap:
    """A 2-D (or 1-D) array as a terminal heat map with a legend of its range: a Rich
    renderable (see the module's docstring).

    signed: True for data whose sign matters (gradients): blue below 0, white at 0,
    red above, on a scale symmetric around 0; None decides from the data (signed
    when it holds both negative and positive values). palette: "viridis" (the
    default for unsigned data), "grey" (for images) or "signed". scale: the values
    at the ends of the scale, (0, 255) for pixels  [default: the data's range].
    """

    def __init__(
        self,
        array,
        *,
        signed: bool | None = None,
        title: str | None = None,
        palette: str | None = None,
        legend: bool = True,
        scale: tuple[float, float] | None = None,
    ):
        a = np.asarray(array, dtype=np.float64)
        if a.ndim == 1:
            a = a.reshape(1, -1)
        if a.ndim != 2 or a.size == 0:
            raise ValueError(
                _("a heat map draws a non-empty 1-D or 2-D array, not one of shape {shape}").format(
                    shape=a.shape
                )
            )
        self.values = a
        finite = a[np.isfinite(a)]
        self.min = float(finite.min()) if finite.size else 0.0
        self.max = float(finite.max()) if finite.size else 0.0
        self.signed = (self.min < 0 < self.max) if signed is None else bool(signed)
        if palette is None:
            palette = "signed" if self.signed else "viridis"
        if palette not in PALETTES:
            raise ValueError(
                _("palette must be one of {palettes}, not {palette!r}").format(
                    palettes=", ".join(PALETTES), palette=palette
                )
            )
        self.palette = PALETTES[palette]
        self.title = title
        self.legend = legend
        # The scale: [min, max], or symmetric [-m, m] around 0 for signed data.
        if scale is not None:
            self.lo, self.hi = scale
        elif self.signed:
            m = max(abs(self.min), abs(self.max))
            self.lo, self.hi = -m, m
        else:
            self.lo, self.hi = self.min, self.max

    # -- where each value sits on the scale ----------------------------------------------------
    def _fraction(self, v: float) -> float:
        """v's place on the scale, 0 at the low end and 1 at the high end (a constant sits
        at the low end, or in the middle, at 0, for signed data)."""
        span = self.hi - self.lo
        if span <= 0:
            return 0.5 if self.signed else 0.0
        return (v - self.lo) / span

    def _colour(self, v: float) -> Color:
        if not np.isfinite(v):
            return NAN_COLOR
        return _interpolate(self.palette, self._fraction(v))

    def _char(self, v: float) -> str:
        if not np.isfinite(v):
            return NAN_CHAR
        t = self._fraction(v)
        if not self.signed:
            return RAMP[min(int(t * len(RAMP)), len(RAMP) - 1)]
        d = 2 * t - 1  # -1 .. 1, 0 at value 0
        level = int(abs(d) * (len(POS_RAMP) + 1))  # level 0 (near 0) is a blank
        if level == 0:
            return " "
        ramp = POS_RAMP if d > 0 else NEG_RAMP
        return ramp[min(level, len(ramp)) - 1]

    # -- drawing --------------------------------------------------------------------------------
    def _blocks(self) -> Text:
        return half_blocks([[self._colour(v) for v in row] for row in self.values])

    def _ramp(self) -> Text:
        """One line per row, two characters per cell (a character is about twice as tall as wide)."""
        lines = ["".join(self._char(v) * 2 for v in row).rstrip() for row in self.values]
        return Text("\n".join(lines), no_wrap=True, overflow="crop")

    def _legend(self, colour: bool) -> Text:
        text = Text(no_wrap=True)
        text.append(_number(self.lo) + " ", style="dim")
        if colour:
            for k in range(LEGEND_CELLS):
                v = self.lo + (self.hi - self.lo) * k / (LEGEND_CELLS - 1)
                text.append("█", Style(color=self._colour(v)))
        elif self.signed:
            text.append("[" + "".join(reversed(NEG_RAMP)) + " " + POS_RAMP + "]")
        else:
            text.append("[" + RAMP + "]")
        text.append(" " + _number(self.hi), style="dim")
        if self.signed and (self.min, self.max) != (self.lo, self.hi):
            text.append(
                "  "
                + _("(min {min}, max {max})").format(min=_number(self.min), max=_number(self.max)),
                style="dim",
            )
        return text

    def _map_width(self, colour: bool) -> int:
        return self.values.shape[1] * (1 if colour else 2)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        colour = colour_on(console)
        if self.title:
            yield Text(self.title, style="bold", no_wrap=True, overflow="ellipsis")
        yield self._blocks() if colour else self._ramp()
        if self.legend:
            yield self._legend(colour)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        colour = colour_on(console)
        widths = [self._map_width(colour)]
        if self.title:
            widths.append(cell_len(self.title))  # Hangul takes two columns a character
        if self.legend:
            widths.append(self._legend(colour).cell_len)
        width = min(max(widths), options.max_width)
        return Measurement(width, width)


heatmap = HeatMap
