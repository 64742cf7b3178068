"""Small bar charts drawn as SVG on the server: no script, no chart library, readable when printed."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape


def grouped_bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    title: str,
    width: int = 1200,
    height: int = 240,
) -> Markup:
    """Bars for up to two series over ``labels`` (days, kecamatan), with their values written on them."""
    top, bottom, left = 18, 34, 30
    plot_h = height - top - bottom
    peak = max([1, *(v for _name, values in series for v in values)])
    slot = (width - left - 4) / max(1, len(labels))
    # Bars keep a readable width even when there are few labels (one kecamatan, one day).
    bar = min(36.0, max(2.0, (slot - 6) / max(1, len(series))))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - 4}" y2="{top + plot_h}"/>',
        f'<text x="2" y="{top + 4}">{peak}</text><text x="2" y="{top + plot_h}">0</text>',
    ]
    for i, label in enumerate(labels):
        x0 = left + i * slot + 3
        for j, (name, values) in enumerate(series):
            value = values[i]
            h = plot_h * value / peak
            x = x0 + j * bar
            kind = "ab"[j % 2]
            parts.append(
                f'<rect class="bar-{kind}" x="{x:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar - 1:.1f}" height="{h:.1f}">'
                f"<title>{escape(name)} {escape(label)}: {value}</title></rect>"
            )
            if value and bar >= 12:
                parts.append(
                    f'<text x="{x + bar / 2 - 1:.1f}" y="{top + plot_h - h - 3:.1f}" '
                    f'text-anchor="middle">{value}</text>'
                )
        parts.append(
            f'<text x="{x0 + slot / 2 - 3:.1f}" y="{height - bottom + 14}" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
