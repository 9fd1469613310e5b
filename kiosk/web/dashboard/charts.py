"""Charts drawn on the server as inline SVG: no script, no request, printable. Each chart repeats numbers the
page also gives as text, so it is hidden from screen readers."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 320
ROW = 34
BAR_LEFT = 2
BAR_HEIGHT = 12
BAND_CLASSES = ("band0", "band1", "band2", "band3", "band-none")


def _svg(height: int, body: list[str]) -> Markup:
    head = (f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" aria-hidden="true" focusable="false" '
            'xmlns="http://www.w3.org/2000/svg">')
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every text below is escaped


def bars(rows: Sequence[tuple[str, int]]) -> Markup:
    """One row per label: the label, then a bar proportional to its count, then the count."""
    if not rows:
        return Markup("")
    top = max(count for _, count in rows) or 1
    body = []
    for index, (text, count) in enumerate(rows):
        y = index * ROW
        width = max(2, round((WIDTH - 44) * count / top)) if count else 0
        body.append(f'<text x="{BAR_LEFT}" y="{y + 12}" font-size="12" fill="currentColor">{escape(text)}</text>')
        body.append(f'<rect class="bar" x="{BAR_LEFT}" y="{y + 16}" width="{width}" height="{BAR_HEIGHT}" rx="2"/>')
        body.append(f'<text x="{BAR_LEFT + width + 4}" y="{y + 27}" font-size="12" fill="currentColor">'
                    f"{count}</text>")
    return _svg(ROW * len(rows), body)


def stacked(rows: Sequence[tuple[str, Sequence[int]]]) -> Markup:
    """One row per area: a bar split into the counts of each band (beginner … at ease, then not assessed)."""
    if not rows:
        return Markup("")
    body = []
    for index, (text, counts) in enumerate(rows):
        y = index * ROW
        total = sum(counts) or 1
        body.append(f'<text x="{BAR_LEFT}" y="{y + 12}" font-size="12" fill="currentColor">{escape(text)}</text>')
        left = float(BAR_LEFT)
        for band, count in enumerate(counts):
            if not count:
                continue
            width = (WIDTH - 2 * BAR_LEFT) * count / total
            body.append(f'<rect class="{BAND_CLASSES[min(band, 4)]}" x="{left:.1f}" y="{y + 16}" '
                        f'width="{width:.1f}" height="{BAR_HEIGHT}"/>')
            left += width
    return _svg(ROW * len(rows), body)


def gauge(percent: int | None, warn_from: int) -> Markup:
    """A thin bar for a share of a cap (the month's data), red from the warning threshold."""
    if percent is None:
        return Markup("")
    width = round((WIDTH - 4) * min(percent, 100) / 100)
    state = "over" if percent >= warn_from else "fine"
    return _svg(14, [f'<rect class="track" x="2" y="2" width="{WIDTH - 4}" height="10" rx="3"/>',
                     f'<rect class="{state}" x="2" y="2" width="{width}" height="10" rx="3"/>'])
