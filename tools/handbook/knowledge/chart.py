"""The knowledge-risk chart: one stacked horizontal bar per service, one colour per kind of finding.

Plain SVG written here (no plotting library): self-contained, offline, readable in print and in
dark mode (text is drawn on a light panel).
"""

from __future__ import annotations

from html import escape

from handbook.knowledge.risk import RiskReport

CATEGORIES = ("bus factor", "islands", "authors", "team", "off-boarding", "runbooks", "drills", "diagrams", "review", "decisions")
COLOURS = ("#b71c1c", "#e65100", "#f9a825", "#6d4c41", "#880e4f", "#1565c0", "#00838f", "#2e7d32", "#6a1b9a", "#546e7a")
ROW = 34
LEFT = 110
BAR = 420
TOP = 52


def risk_chart(report: RiskReport) -> str:
    """The chart of a risk report as an SVG document.

    Args:
        report: The report (services already worst first).

    Returns:
        The SVG text.
    """
    services = report.services
    top_score = max((r.score for r in services), default=0) or 1
    scale = BAR / top_score
    height = TOP + ROW * max(1, len(services)) + 22 + 18 * ((len(CATEGORIES) + 4) // 5)
    width = LEFT + BAR + 80
    title = "Knowledge risk per service (higher is worse)"
    if report.without:
        title += f" - without {report.without}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="risk-title" font-family="sans-serif" font-size="13">',
        f'<title id="risk-title">{escape(title)}</title>',
        f'<rect width="{width}" height="{height}" fill="#ffffff" rx="6"/>',
        f'<text x="12" y="24" font-size="15" font-weight="bold" fill="#212121">{escape(title)}</text>',
    ]
    for row, risk in enumerate(services):
        y = TOP + row * ROW
        out.append(f'<text x="{LEFT - 8}" y="{y + 17}" text-anchor="end" fill="#212121">{escape(risk.service)}</text>')
        x = float(LEFT)
        for category, colour in zip(CATEGORIES, COLOURS):
            points = sum(f.points for f in risk.findings if f.category == category)
            if points <= 0:
                continue
            w = points * scale
            reasons = "; ".join(f.reason for f in risk.findings if f.category == category)
            out.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{ROW - 12}" fill="{colour}">'
                       f'<title>{escape(risk.service)} - {escape(category)} +{points:g}: {escape(reasons)}</title></rect>')
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 17}" fill="#212121">{risk.score:g}</text>')
    legend_y = TOP + ROW * max(1, len(services)) + 16
    for index, (category, colour) in enumerate(zip(CATEGORIES, COLOURS)):
        lx = 12 + (index % 5) * 118
        ly = legend_y + (index // 5) * 18
        out.append(f'<rect x="{lx}" y="{ly}" width="11" height="11" fill="{colour}"/>')
        out.append(f'<text x="{lx + 15}" y="{ly + 10}" font-size="11" fill="#212121">{escape(category)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
