"""Server-side SVG charts for the portal's reports: a bar chart with each value printed, and a heatmap whose cells
carry their number as text so colour is never the only signal. Pure: no Django, no ORM; the caller passes labels
already translated and values already formatted, and every text is XML-escaped here. Each chart has <title> and
<desc> (referenced by aria-labelledby); the pages show the same figures in a table next to it."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

#: Heatmap bands (lower bound of the share in percent, CSS class, fill colour); the last matching band wins.
BANDS = ((Decimal(0), "band-0", "#f1f5f9"), (Decimal(5), "band-1", "#c7e9c0"), (Decimal(15), "band-2", "#74c476"),
         (Decimal(30), "band-3", "#31a354"), (Decimal(50), "band-4", "#006d2c"))
_DARK_BANDS = {"band-3", "band-4"}


def _e(text) -> str:
    return escape(str(text), quote=True)


def band(value: Decimal | float | int) -> tuple[str, str]:
    """The (CSS class, fill colour) of a share in percent."""
    chosen = BANDS[0]
    for entry in BANDS:
        if Decimal(str(value)) >= entry[0]:
            chosen = entry
    return chosen[1], chosen[2]


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal | int | float
    text: str  # the value as printed above the bar


def bar_chart(bars: Sequence[Bar], *, chart_id: str, title: str, desc: str, width: int = 720, height: int = 260
              ) -> str:
    """A vertical bar chart: one bar per entry, its printed value above it and its label below; scaled to the
    largest value (all-zero or negative values draw no bar)."""
    top, bottom, left, right = 24, 40, 8, 8
    plot_height = height - top - bottom
    count = max(len(bars), 1)
    slot = (width - left - right) / count
    largest = max((Decimal(str(bar.value)) for bar in bars), default=Decimal(0))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="{_e(chart_id)}-title {_e(chart_id)}-desc" preserveAspectRatio="xMidYMid meet">',
             f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
             f'<desc id="{_e(chart_id)}-desc">{_e(desc)}</desc>',
             f'<line x1="{left}" y1="{top + plot_height}" x2="{width - right}" y2="{top + plot_height}" '
             f'stroke="#64748b" stroke-width="1"/>']
    for index, bar in enumerate(bars):
        value = Decimal(str(bar.value))
        bar_height = float(value / largest * plot_height) if largest > 0 and value > 0 else 0.0
        x = left + index * slot + slot * 0.15
        bar_width = slot * 0.7
        y = top + plot_height - bar_height
        centre = x + bar_width / 2
        parts.append(f'<g><rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{bar_height:.1f}" '
                     f'fill="#2563eb"><title>{_e(bar.label)}: {_e(bar.text)}</title></rect>'
                     f'<text x="{centre:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11">{_e(bar.text)}'
                     f'</text><text x="{centre:.1f}" y="{height - bottom + 16:.1f}" text-anchor="middle" '
                     f'font-size="11">{_e(bar.label)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Cell:
    value: Decimal  # share in percent, decides the band
    text: str  # printed in the cell


def heatmap(rows: Sequence[tuple[str, Sequence[Cell]]], columns: Sequence[str], *, chart_id: str, title: str,
            desc: str, cell_width: int = 52, cell_height: int = 26, label_width: int = 150) -> str:
    """A grid: one row per (label, cells), one column per ``columns`` label; each cell filled by its band and its
    text printed inside (white on the dark bands)."""
    width = label_width + cell_width * max(len(columns), 1) + 4
    height = cell_height * (len(rows) + 1) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart heatmap" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" '
             f'aria-labelledby="{_e(chart_id)}-title {_e(chart_id)}-desc">',
             f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
             f'<desc id="{_e(chart_id)}-desc">{_e(desc)}</desc>']
    for column, label in enumerate(columns):
        x = label_width + column * cell_width + cell_width / 2
        parts.append(f'<text x="{x:.1f}" y="{cell_height - 8}" text-anchor="middle" font-size="11">{_e(label)}'
                     f'</text>')
    for row_index, (label, cells) in enumerate(rows):
        y = cell_height * (row_index + 1)
        parts.append(f'<text x="4" y="{y + cell_height - 8}" font-size="11">{_e(label)}</text>')
        for column, cell in enumerate(cells):
            css, fill = band(cell.value)
            x = label_width + column * cell_width
            ink = "#ffffff" if css in _DARK_BANDS else "#0f172a"
            parts.append(f'<g class="{css}"><rect x="{x}" y="{y}" width="{cell_width - 2}" height="{cell_height - 2}" '
                         f'fill="{fill}"><title>{_e(label)}, {_e(columns[column])}: {_e(cell.text)}</title></rect>'
                         f'<text x="{x + (cell_width - 2) / 2:.1f}" y="{y + cell_height - 9}" text-anchor="middle" '
                         f'font-size="11" fill="{ink}">{_e(cell.text)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
