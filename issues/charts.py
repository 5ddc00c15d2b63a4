"""Inline SVG charts of the statistics page, rendered on the server: no JavaScript library, nothing downloaded.

Every chart is an accessible image (role="img" with its <title> and <desc>), and every bar carries its value as
text next to it, so colour is never the only carrier of a figure. A rate is a float from 0 to 1 or None (no
denominator, issues.stats): None draws an empty track and the text "—" with the caller's "no data" words.
Bar lengths are proportional: a rate fills its share of the track, a count its share of the largest count.
"""

from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 400  # viewBox width; the page scales the picture to its column (desktop card or phone screen)
LABEL_WIDTH = 110  # left column for the labels
VALUE_WIDTH = 100  # right column for the value text
TRACK = WIDTH - LABEL_WIDTH - VALUE_WIDTH  # the full length of a bar beside short labels (longer ones shorten it)
ROW = 30
FONT = 14
GOOD, FAIR, POOR = "#2e7d32", "#ef6c00", "#c62828"  # rate colours; the text says the same figure
TRACK_COLOUR = "#e4e7eb"
SERIES_COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00")
STATUS_COLOURS = {
    "submitted": "#90a4ae",
    "classified": "#5c6bc0",
    "dispatched": "#1565c0",
    "in_progress": "#ef6c00",
    "resolved": "#2e7d32",
    "closed": "#1b5e20",
    "rejected": "#8d6e63",
}


@dataclass(frozen=True)
class Rate:
    """One rate to draw: its label, its value (0–1 or None) and the counts behind it ("12 / 15")."""

    label: str
    value: float | None
    numerator: int = 0
    denominator: int = 0


def rate_colour(value: float) -> str:
    """Return the colour of a rate: good from 90 %, fair from 70 %, poor below."""
    if value >= 0.9:
        return GOOD
    return FAIR if value >= 0.7 else POOR


def bar_length(value: float, full: float, *, track: float = TRACK) -> float:
    """Return the length of a bar for `value` out of `full` on a `track` (0 when `full` is 0)."""
    if not full:
        return 0.0
    return round(track * min(max(value / full, 0.0), 1.0), 1)


def text_width(text: str) -> float:
    """Return the rough width of `text` at FONT: a CJK character is about square, a Latin one about half."""
    return sum(FONT if ord(ch) > 0x2E80 else FONT * 0.6 for ch in text)


def percent(value: float | None) -> str:
    """Return a rate as "83%", or "—" for None."""
    return "—" if value is None else f"{round(value * 100)}%"


def _svg(*, chart_id: str, title: str, desc: str, height: int, body: list[str]) -> SafeString:
    head = (
        f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}"'
        f' role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc"'
        f' font-size="{FONT}" font-family="inherit">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308  (every text above and in body is escaped)


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "", weight: str = "") -> str:
    extra = f' class="{cls}"' if cls else ""
    extra += f' font-weight="{weight}"' if weight else ""
    return f'<text x="{x}" y="{y}" text-anchor="{anchor}" dominant-baseline="middle"{extra}>{escape(text)}</text>'


def label_width(labels) -> float:
    """Return the width of the label column: LABEL_WIDTH, or more for longer labels (English ones)."""
    return max([LABEL_WIDTH, *(round(text_width(label)) + 12 for label in labels)])


def _rate_row(
    y: float, rate: Rate, *, no_data: str, x: float, colour: str | None = None, height: int = 16
) -> list[str]:
    """Return the track from `x`, the bar and the value text of one rate, its bar centred on `y`."""
    track = WIDTH - VALUE_WIDTH - x
    parts = [f'<rect x="{x}" y="{y - height / 2}" width="{track}" height="{height}" rx="3" fill="{TRACK_COLOUR}"/>']
    if rate.value is None:
        parts.append(_text(x + track + 8, y, f"— {no_data}", cls="no-data"))
        return parts
    fill = colour or rate_colour(rate.value)
    parts.append(
        f'<rect class="bar" x="{x}" y="{y - height / 2}" width="{bar_length(rate.value, 1, track=track)}"'
        f' height="{height}" rx="3" fill="{fill}" data-value="{rate.value}"/>'
    )
    parts.append(_text(x + track + 8, y, f"{percent(rate.value)} ({rate.numerator}/{rate.denominator})", weight="600"))
    return parts


def rate_gauges_svg(*, chart_id: str, title: str, desc: str, rates: list[Rate], no_data: str) -> SafeString:
    """Draw each rate as a bar gauge from 0 to 100 %, with its percentage and counts as text."""
    body = []
    x = label_width(rate.label for rate in rates)
    for index, rate in enumerate(rates):
        y = ROW * index + ROW / 2 + 4
        body.append(_text(0, y, rate.label))
        body.extend(_rate_row(y, rate, no_data=no_data, x=x))
    return _svg(chart_id=chart_id, title=title, desc=desc, height=ROW * len(rates) + 8, body=body)


def count_bars_svg(*, chart_id: str, title: str, desc: str, counts: list[tuple[str, str, int]]) -> SafeString:
    """Draw one bar per (key, label, count), lengths proportional to the largest count, the count as text."""
    largest = max((count for _key, _label, count in counts), default=0)
    x = label_width(label for _key, label, _count in counts)
    track = WIDTH - VALUE_WIDTH - x
    body = []
    for index, (key, label, count) in enumerate(counts):
        y = ROW * index + ROW / 2 + 4
        body.append(_text(0, y, label))
        body.append(
            f'<rect x="{x}" y="{y - 8}" width="{track}" height="16" rx="3" fill="{TRACK_COLOUR}"/>'
            f'<rect class="bar" x="{x}" y="{y - 8}" width="{bar_length(count, largest, track=track)}" height="16"'
            f' rx="3" fill="{STATUS_COLOURS.get(key, SERIES_COLOURS[0])}" data-value="{count}"/>'
        )
        body.append(_text(x + track + 8, y, str(count), weight="600"))
    return _svg(chart_id=chart_id, title=title, desc=desc, height=ROW * len(counts) + 8, body=body)


def grouped_rates_svg(
    *, chart_id: str, title: str, desc: str, series: list[str], groups: list[tuple[str, str, list[Rate]]], no_data: str
) -> SafeString:
    """Draw the rates of each group (name, link, rates in `series` order) as a block of thin labelled bars.

    Each bar is coloured by its series and also named by it in text on the left, so the legend is not needed to
    read it; a group name with a link becomes a link (the drill-down to that child area).
    """
    group_height = 24 + 20 * len(series) + 10
    body = []
    bars_x = label_width(series) + 12
    x, y = 0.0, 12
    for index, name in enumerate(series):
        width = 16 + text_width(name)
        if x and x + width > WIDTH:  # the legend wraps rather than running off the picture
            x, y = 0.0, y + 22
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        body.append(f'<rect x="{x}" y="{y - 6}" width="12" height="12" rx="2" fill="{colour}"/>')
        body.append(_text(x + 16, y, name, cls="legend"))
        x += width + 14
    legend_row = y + 14
    for g, (name, link, rates) in enumerate(groups):
        top = legend_row + g * group_height
        heading = _text(0, top + 12, name, weight="700")
        body.append(f'<a href="{escape(link)}">{heading}</a>' if link else heading)
        for index, rate in enumerate(rates):
            y = top + 24 + 20 * index + 8
            body.append(_text(12, y, rate.label, cls="series"))
            colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
            body.extend(_rate_row(y, rate, no_data=no_data, x=bars_x, colour=colour, height=12))
    height = legend_row + group_height * len(groups) + 4
    return _svg(chart_id=chart_id, title=title, desc=desc, height=height, body=body)
