"""Charts drawn on the server as inline SVG: no JavaScript, nothing from a CDN.

Every text that reaches the SVG is escaped, and bands are named in text beside their colour so the
charts read without colour. The functions take plain numbers and return `Markup`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

Point = tuple[float, float]


@dataclass(frozen=True)
class Series:
    """One line: points (x, y), a CSS class for its colour, and an optional interval band."""

    name: str
    points: Sequence[Point]
    css: str = "series-a"
    lower: Sequence[float] = ()
    upper: Sequence[float] = ()


@dataclass(frozen=True)
class Band:
    """A horizontal band of the y axis (e.g. the red band of the health score) with its label."""

    low: float
    high: float
    label: str
    css: str


@dataclass(frozen=True)
class Marker:
    """A vertical line at x with a label, e.g. the renewal date."""

    x: float
    label: str


@dataclass(frozen=True)
class Frame:
    """The drawing area and the data ranges it maps."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float
    width: int = 640
    height: int = 220
    left: int = 44
    right: int = 90
    top: int = 14
    bottom: int = 28
    ticks: list[tuple[float, str]] = field(default_factory=list)

    def x(self, value: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        return self.left + (value - self.x_min) / span * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        plot = self.height - self.top - self.bottom
        return self.top + (1 - (value - self.y_min) / span) * plot


def _num(value: float) -> str:
    return f"{value:.1f}"


def _path(frame: Frame, points: Iterable[Point]) -> str:
    """An SVG path through `points` (M, then L to each next one), to a tenth of a pixel.

    Frame.x and Frame.y inlined (the same arithmetic, so the same digits): a risk list page
    draws 50 sparklines of 30 points."""
    x_min, x_span = frame.x_min, (frame.x_max - frame.x_min) or 1.0
    y_min, y_span = frame.y_min, (frame.y_max - frame.y_min) or 1.0
    left, x_plot = frame.left, frame.width - frame.left - frame.right
    top, y_plot = frame.top, frame.height - frame.top - frame.bottom
    coordinates = [
        f"{left + (px - x_min) / x_span * x_plot:.1f},"
        f"{top + (1 - (py - y_min) / y_span) * y_plot:.1f}"
        for px, py in points
    ]
    return "M" + " L".join(coordinates) if coordinates else ""


def _svg(width: int, height: int, title: str, body: str, css: str = "chart") -> Markup:
    label = escape(title)
    return Markup(  # noqa: S704 - the callers escape every text they put in `body`
        f'<svg class="{css}" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{label}" preserveAspectRatio="xMinYMin meet"><title>{label}</title>'
        f"{body}</svg>"
    )


def sparkline(
    values: Sequence[float], *, y_min: float = 0, y_max: float = 100, title: str = "trend"
) -> Markup:
    """A tiny line of the last values (e.g. 90 days of health), with the last point marked."""
    width, height = 120, 28
    if len(values) < 2:
        return _svg(width, height, title, "", css="sparkline")
    frame = Frame(0, len(values) - 1, y_min, y_max, width, height, 2, 4, 3, 3)
    last_x, last_y = frame.x(len(values) - 1), frame.y(values[-1])
    body = (
        f'<path class="line" d="{_path(frame, enumerate(values))}"/>'
        f'<circle class="dot" cx="{_num(last_x)}" cy="{_num(last_y)}" r="2"/>'
    )
    return _svg(width, height, title, body, css="sparkline")


def _bands(frame: Frame, bands: Sequence[Band]) -> str:
    parts = []
    for band in bands:
        top, bottom = frame.y(band.high), frame.y(band.low)
        parts.append(
            f'<rect class="band {escape(band.css)}" x="{frame.left}" y="{_num(top)}" '
            f'width="{_num(frame.width - frame.left - frame.right)}" '
            f'height="{_num(bottom - top)}"/>'
            f'<text class="band-label" x="{frame.width - frame.right + 6}" '
            f'y="{_num((top + bottom) / 2 + 4)}">{escape(band.label)}</text>'
        )
    return "".join(parts)


def _axes(frame: Frame, y_format: Callable[[float], str]) -> str:
    parts = [
        f'<line class="axis" x1="{frame.left}" y1="{frame.height - frame.bottom}" '
        f'x2="{frame.width - frame.right}" y2="{frame.height - frame.bottom}"/>'
    ]
    for i in range(5):
        value = frame.y_min + (frame.y_max - frame.y_min) * i / 4
        y = _num(frame.y(value))
        parts.append(
            f'<line class="grid" x1="{frame.left}" y1="{y}" x2="{frame.width - frame.right}" '
            f'y2="{y}"/><text class="tick" x="{frame.left - 6}" y="{y}" dy="4" '
            f'text-anchor="end">{escape(y_format(value))}</text>'
        )
    for x, label in frame.ticks:
        parts.append(
            f'<text class="tick" x="{_num(frame.x(x))}" y="{frame.height - 8}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    return "".join(parts)


def _interval(frame: Frame, series: Series) -> str:
    if not series.lower or not series.upper:
        return ""
    xs = [x for x, _ in series.points]
    outline = list(zip(xs, series.upper, strict=True)) + list(
        reversed(list(zip(xs, series.lower, strict=True)))
    )
    return f'<path class="interval {escape(series.css)}" d="{_path(frame, outline)} Z"/>'


def _legend(frame: Frame, series: Sequence[Series]) -> str:
    if len(series) < 2:
        return ""
    parts = []
    for i, line in enumerate(series):
        y = frame.top + 12 + i * 16
        x = frame.width - frame.right + 6
        parts.append(
            f'<line class="line {escape(line.css)}" x1="{x}" y1="{y - 4}" x2="{x + 14}" '
            f'y2="{y - 4}"/><text class="legend" x="{x + 18}" y="{y}">{escape(line.name)}</text>'
        )
    return "".join(parts)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    ticks: Sequence[tuple[float, str]] = (),
    bands: Sequence[Band] = (),
    markers: Sequence[Marker] = (),
    y_range: tuple[float, float] | None = None,
    y_format: Callable[[float], str] = lambda v: f"{v:.0f}",
    height: int = 220,
) -> Markup:
    """Lines over x (numbers, e.g. day ordinals), with shaded bands, intervals and markers."""
    xs = [x for line in series for x, _ in line.points] + [m.x for m in markers]
    ys = [y for line in series for _, y in line.points] + [v for s in series for v in s.upper]
    if not xs or not ys:
        return _svg(640, 60, title, '<text class="empty" x="10" y="34">No data yet</text>')
    y_min, y_max = y_range or (min(0.0, *ys), max(ys) * 1.1 or 1.0)
    frame = Frame(min(xs), max(xs), y_min, y_max, height=height, ticks=list(ticks))
    body = [_bands(frame, bands), _axes(frame, y_format)]
    body += [_interval(frame, line) for line in series]
    body += [
        f'<path class="line {escape(line.css)}" d="{_path(frame, line.points)}">'
        f"<title>{escape(line.name)}</title></path>"
        for line in series
        if line.points
    ]
    for marker in markers:
        x = _num(frame.x(marker.x))
        body.append(
            f'<line class="marker" x1="{x}" y1="{frame.top}" x2="{x}" '
            f'y2="{frame.height - frame.bottom}"/><text class="marker-label" x="{x}" '
            f'y="{frame.height - frame.bottom - 6}" dx="4">{escape(marker.label)}</text>'
        )
    body.append(_legend(frame, series))
    return _svg(frame.width, frame.height, title, "".join(body))


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    value_format: Callable[[float], str] = lambda v: f"{v:,.0f}",
    css: Sequence[str] = (),
) -> Markup:
    """Horizontal bars, one per (label, value), each labelled with its name and value in text."""
    row, label_width, width = 26, 150, 640
    height = max(row * len(items) + 8, 34)
    if not items:
        return _svg(width, 34, title, '<text class="empty" x="10" y="22">No data yet</text>')
    top = max((value for _, value in items), default=0) or 1.0
    bar_space = width - label_width - 110
    parts = []
    for i, (label, value) in enumerate(items):
        y = 4 + i * row
        bar_css = css[i] if i < len(css) else "series-a"
        length = max(value, 0) / top * bar_space
        parts.append(
            f'<text class="bar-label" x="{label_width - 8}" y="{y + 16}" text-anchor="end">'
            f'{escape(label)}</text><rect class="bar {escape(bar_css)}" x="{label_width}" '
            f'y="{y + 3}" width="{_num(length)}" height="{row - 8}"/>'
            f'<text class="bar-value" x="{_num(label_width + length + 6)}" y="{y + 16}">'
            f"{escape(value_format(value))}</text>"
        )
    return _svg(width, height, title, "".join(parts))
