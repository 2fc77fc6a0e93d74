"""Charts as server-side SVG: no JavaScript, no CDN, readable with scripts off and by screen readers.

Each chart is one `<svg role="img">` with an `aria-label` that says what it shows (its title and
the headline numbers), axis labels, and a `<title>` on every bar and point, which browsers show
as a tooltip. A bar given a URL is a link to the rows behind it. Colours are presentation attributes that the dashboard's stylesheet may override
(`.ll-chart .bar` ...), so a chart still draws without the stylesheet. Values are plain numbers
(int, float or Decimal); the caller formats them for display.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Number = int | float | Decimal
Formatter = Callable[[Number], str]

FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'
BAR_COLOUR = "#417690"
LINE_COLOUR = "#d9822b"
GRID_COLOUR = "#d9d9d9"
TEXT_COLOUR = "#555"
TICKS = 4  # gridlines above zero, about
MAX_X_LABELS = 10
LABEL_CHARS = 26


def nice_step(maximum: float, ticks: int = TICKS) -> float:
    """A round gridline step (1, 2, 2.5 or 5 times a power of ten) that covers `maximum` in about `ticks` steps."""
    if maximum <= 0:
        return 1.0
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def axis_ticks(maximum: float, ticks: int = TICKS) -> list[float]:
    """0 and the round steps up to the first that reaches `maximum`."""
    step = nice_step(maximum, ticks)
    top = max(step, math.ceil(maximum / step - 1e-9) * step)
    return [step * index for index in range(round(top / step) + 1)]


def compact(value: Number) -> str:
    """An axis label: 950, 1.2k, 3.5M."""
    value = float(value)
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            text = f"{value / threshold:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _e(text: object) -> str:
    return str(escape(str(text)))


def _tag(name: str, text: str = "", *, tip: str = "", **attrs) -> str:
    """An SVG element: `class_` is class, other underscores are dashes, floats get one decimal, `tip` its <title>."""
    rendered = " ".join(
        f'{key.rstrip("_").replace("_", "-")}="{f"{value:.1f}" if isinstance(value, float) else _e(value)}"'
        for key, value in attrs.items()
    )
    inner = _e(text) + (f"<title>{_e(tip)}</title>" if tip else "")
    return f"<{name} {rendered}>{inner}</{name}>" if inner else f"<{name} {rendered}/>"


def _linked(element: str, url: str | None) -> str:
    return f'<a href="{_e(url)}">{element}</a>' if url else element


def _shorten(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(chart_id: str, width: int, height: int, label: str, body: list[str]) -> SafeString:
    return mark_safe(
        f'<svg class="ll-chart" id="{_e(chart_id)}" role="img" aria-label="{_e(label)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg" {FONT} font-size="11">'
        f"<title>{_e(label)}</title>" + "".join(body) + "</svg>"
    )


@dataclass(frozen=True)
class Line:
    """A second series drawn as a line over the columns, on its own axis at the right."""

    name: str
    values: Sequence[Number]
    fmt: Formatter
    axis_prefix: str = ""  # e.g. "$" before the right axis' labels


def column_chart(
    *,
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[Number],
    name: str,
    fmt: Formatter,
    line: Line | None = None,
    summary: str = "",
    width: int = 760,
    height: int = 260,
    urls: Sequence[str] | None = None,
) -> SafeString:
    """Vertical columns, one per label (a day, a bucket), with a left axis; optionally a line on a right axis.

    `urls`, one per column, make each column a link.
    """
    left, right, top, bottom = 52, 56 if line else 14, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    base = top + plot_h
    count = max(len(values), 1)
    slot = plot_w / count
    ticks = axis_ticks(float(max(values, default=0)))
    scale = plot_h / ticks[-1]
    text = {"fill": TEXT_COLOUR}
    # The legend, top left.
    body = [
        _tag("rect", class_="bar", x=left, y=8, width=10, height=10, fill=BAR_COLOUR),
        _tag("text", name, class_="legend", x=left + 14, y=17, **text),
    ]
    if line:
        x = left + 24 + 7 * len(name)
        body.append(_tag("line", class_="line", x1=x, y1=13, x2=x + 14, y2=13, stroke=LINE_COLOUR, stroke_width=2.5))
        body.append(_tag("text", line.name, class_="legend", x=x + 18, y=17, **text))
    # Gridlines and the left axis.
    for tick in ticks:
        y = base - tick * scale
        body.append(_tag("line", class_="grid", x1=left, y1=y, x2=left + plot_w, y2=y, stroke=GRID_COLOUR))
        body.append(_tag("text", compact(tick), class_="axis", x=left - 6, y=y + 4, text_anchor="end", **text))
    # Columns, each with its tooltip, and every few a label below.
    bar_w = max(1.0, slot * 0.72)
    every = max(1, math.ceil(count / MAX_X_LABELS))
    for index, (label, value) in enumerate(zip(labels, values)):
        bar_h = float(value) * scale
        tip = f"{label}: {fmt(value)} {name}" + (f", {line.fmt(line.values[index])} {line.name}" if line else "")
        body.append(_linked(_tag(
            "rect", class_="bar", x=left + index * slot + (slot - bar_w) / 2, y=base - bar_h, width=bar_w, height=bar_h,
            fill=BAR_COLOUR, tip=tip,
        ), urls[index] if urls else None))
        if index % every == 0:
            x = left + index * slot + slot / 2
            body.append(_tag("text", label, class_="axis", x=x, y=base + 16, text_anchor="middle", **text))
    body.append(_tag("line", class_="baseline", x1=left, y1=base, x2=left + plot_w, y2=base, stroke=TEXT_COLOUR))
    if line:
        body.extend(_line(line, labels, left, top, plot_w, plot_h, slot))
    return _svg(chart_id, width, height, f"{title}. {summary}".strip(), body)


def _line(line: Line, labels, left, top, plot_w, plot_h, slot) -> list[str]:
    ticks = axis_ticks(float(max(line.values, default=0)))
    scale = plot_h / ticks[-1]
    base = top + plot_h
    points = [(left + index * slot + slot / 2, base - float(value) * scale) for index, value in enumerate(line.values)]
    body = [
        _tag(
            "text", f"{line.axis_prefix}{compact(tick)}", class_="axis line-axis", x=left + plot_w + 6,
            y=base - tick * scale + 4, fill=LINE_COLOUR,
        )
        for tick in ticks
    ]
    if points:
        path = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(_tag("path", class_="line", d=path, fill="none", stroke=LINE_COLOUR, stroke_width=2))
    radius = 2.5 if len(points) <= 45 else 1.5
    for (x, y), label, value in zip(points, labels, line.values):
        tip = f"{label}: {line.fmt(value)} {line.name}"
        body.append(_tag("circle", class_="point", cx=x, cy=y, r=radius, fill=LINE_COLOUR, tip=tip))
    return body


@dataclass(frozen=True)
class Bar:
    label: str
    value: Number
    text: str  # the value as shown at the bar's end
    colour: str = BAR_COLOUR
    url: str | None = None  # the rows behind the bar


def bar_list(
    *, chart_id: str, title: str, bars: Sequence[Bar], summary: str = "", width: int = 520, row: int = 24
) -> SafeString:
    """Horizontal bars, the largest first as given: a label at the left, the value at each bar's end."""
    label_w = min(170, round(width * 0.33))
    value_w, top = min(130, round(width * 0.3)), 6
    plot_w = width - label_w - value_w
    height = top * 2 + row * max(len(bars), 1)
    largest = float(max((bar.value for bar in bars), default=0)) or 1.0
    text = {"fill": TEXT_COLOUR}
    body = []
    if not bars:
        middle = top + row / 2 + 4
        body.append(_tag("text", "No data", class_="empty", x=width / 2, y=middle, text_anchor="middle", **text))
    for index, bar in enumerate(bars):
        y = top + index * row
        bar_w = max(float(bar.value) / largest * plot_w, 1.0 if bar.value else 0.0)
        middle = y + row / 2 + 4
        body.append(_tag(
            "text", _shorten(bar.label), class_="label", x=label_w - 8, y=middle, text_anchor="end", tip=bar.label,
            **text,
        ))
        body.append(_linked(_tag(
            "rect", class_="bar", x=label_w, y=y + 4, width=bar_w, height=row - 8, rx=2, fill=bar.colour,
            tip=f"{bar.label}: {bar.text}",
        ), bar.url))
        body.append(_tag("text", bar.text, class_="value", x=label_w + bar_w + 6, y=middle, **text))
    return _svg(chart_id, width, height, f"{title}. {summary}".strip(), body)
