"""The geometry of the charts drawn on the server as SVG (templates/macros/charts.html): a share
per month as a line of points, and counts per month as stacked bars. Plain numbers in, plain
numbers out; the template writes the SVG, its <title>/<desc> and the table of the same data."""
import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 420, 230
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 40  # room for the axis labels
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_w: int = PLOT_W
    plot_h: int = PLOT_H
    ticks: list = field(default_factory=list)  # (y, label) of the horizontal grid lines
    labels: list = field(default_factory=list)  # (x, month label, year label or "") under the plot
    points: list = field(default_factory=list)  # line: (x, y, month, value); bars: (x, y, w, h, month, key, value)
    segments: list = field(default_factory=list)  # line: "x,y x,y ..." runs of consecutive months with a value
    target_y: float | None = None
    slot: float = 0


def _x_labels(months, slot):
    step = max(1, math.ceil(len(months) / 12))
    labels = []
    for i, first in enumerate(months):
        if i % step == 0:
            year = str(first.year) if i == 0 or first.month <= step else ""
            labels.append((round(LEFT + slot * (i + .5), 1), f"{first.month}", year))
    return labels


def line(months, values, target=None):
    """`values`: a share (0..1) or None per month (`months`: the first day of each)."""
    slot = PLOT_W / max(1, len(months))
    chart = Chart(slot=slot, labels=_x_labels(months, slot))
    chart.ticks = [(round(TOP + PLOT_H * (1 - share), 1), f"{int(share * 100)}%") for share in (0, .5, 1)]
    run = []
    for i, (first, value) in enumerate(zip(months, values)):
        if value is None:
            if run:
                chart.segments.append(" ".join(run))
            run = []
            continue
        x, y = round(LEFT + slot * (i + .5), 1), round(TOP + PLOT_H * (1 - min(max(value, 0), 1)), 1)
        chart.points.append((x, y, first, round(value * 100, 1)))
        run.append(f"{x},{y}")
    if run:
        chart.segments.append(" ".join(run))
    if target is not None:
        chart.target_y = round(TOP + PLOT_H * (1 - target), 1)
    return chart


def nice_ceiling(n):
    """The smallest of 1, 2, 5, 10, 20, 50, ... at least `n` (an axis that ends on a round number)."""
    if n <= 0:
        return 1
    power = 10 ** math.floor(math.log10(n))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= n)


def stacked(months, series, keys):
    """`series`: per month {key: count}; `keys`: the stacking order. A bar per month and key with a count."""
    slot = PLOT_W / max(1, len(months))
    top = nice_ceiling(max((sum(s.values()) for s in series), default=0))
    chart = Chart(slot=slot, labels=_x_labels(months, slot))
    chart.ticks = [(round(TOP + PLOT_H * (1 - part), 1), str(round(top * part)) if top * part == int(top * part) else "")
                   for part in (0, .5, 1)]
    width = round(slot * .7, 1)
    for i, (first, counts) in enumerate(zip(months, series)):
        base = 0
        for key in keys:
            count = counts.get(key, 0)
            if not count:
                continue
            h = PLOT_H * count / top
            y = TOP + PLOT_H * (1 - (base + count) / top)
            chart.points.append((round(LEFT + slot * i + slot * .15, 1), round(y, 1), width, round(h, 1), first, key, count))
            base += count
    return chart
