"""Charts drawn on the server as inline SVG: no script, no image request, a few hundred bytes.

The chart repeats what the page says in words (bands per area), so it is hidden from screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 320
ROW = 46
SEGMENT = 73
GAP = 5


def bands_chart(rows: Sequence[tuple[str, int | None]], rtl: bool = False) -> Markup:
    """One row per area: its name, then four steps filled up to its band (none when not assessed)."""
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {ROW * len(rows) + 4}" width="100%" aria-hidden="true" '
             f'focusable="false" direction="{"rtl" if rtl else "ltr"}" xmlns="http://www.w3.org/2000/svg">']
    for index, (label, band) in enumerate(rows):
        top = index * ROW
        # "start" follows the svg's direction: the right edge in Arabic, the left edge otherwise
        parts.append(f'<text x="{WIDTH - 2 if rtl else 2}" y="{top + 15}" text-anchor="start" font-size="14" '
                     f'fill="currentColor">{escape(label)}</text>')
        for step in range(4):
            left = WIDTH - 2 - (step + 1) * SEGMENT - step * GAP if rtl else 2 + step * (SEGMENT + GAP)
            filled = band is not None and step <= band
            parts.append(f'<rect x="{left}" y="{top + 22}" width="{SEGMENT}" height="16" rx="3" '
                         f'class="{"on" if filled else "off"}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - labels escaped above
