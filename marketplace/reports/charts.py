"""Report figures for people: yuan from fen, shares as percentages, and the dashboard's SVG charts.

The charts are drawn on the server with pygal and inlined in the page: no script, stylesheet or
font is fetched from anywhere, so the dashboard works behind a firewall and on a slow phone. The
browser's own fonts draw the Chinese labels.
"""
from dataclasses import dataclass
from datetime import date

import pygal
from pygal.style import Style

from marketplace.reports import campaign_sales, queries
from marketplace.reports.periods import Period

# The system's own fonts, CJK ones included; never a web font.
SYSTEM_FONTS = ('system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", '
                '"Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif')
POVERTY_COLOUR, OTHER_COLOUR = "#c25e00", "#0b5d1e"
STYLE = Style(
    font_family=SYSTEM_FONTS, background="transparent", plot_background="#fff",
    foreground="#1a1a1a", foreground_strong="#1a1a1a", foreground_subtle="#555",
    colors=(POVERTY_COLOUR, OTHER_COLOUR), opacity=".9", opacity_hover="1",
    label_font_size=14, major_label_font_size=14, legend_font_size=14, title_font_size=16,
    value_font_size=12, no_data_font_size=20, guide_stroke_color="#ccc", major_guide_stroke_color="#999",
)
COMMON = {
    "style": STYLE, "js": [], "disable_xml_declaration": True, "legend_at_bottom": True,
    "legend_at_bottom_columns": 2,
    "margin": 8, "margin_right": 24, "spacing": 8, "width": 400, "truncate_label": -1, "truncate_legend": -1,
}


@dataclass(frozen=True)
class ChartWords:
    """The words drawn in the charts, in the reader's language (Chinese unless a page says otherwise)."""

    daily_title: str = "每日净销售额（元）"
    province_title: str = "各省净销售额（元）"
    poverty_series: str = "国家级贫困县"
    other_series: str = "其他县"
    no_data: str = "暂无数据"
    short_day: str = "{month}月{day}日"  # a day of a period of two months at most


CHINESE = ChartWords()
PROVINCE_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def yuan(fen: int) -> str:
    """Fen as yuan with thousands separators, by integer arithmetic: 123456 -> '1,234.56'."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def yuan_short(fen: int) -> str:
    """An axis label: whole yuan, in 万 (ten thousand) once it reaches that."""
    whole = abs(int(fen)) // 100
    sign = "-" if fen < 0 else ""
    if whole >= 10_000:
        wan, rest = divmod(whole, 10_000)
        return f"{sign}{wan:,}.{rest // 1000}万" if rest >= 1000 else f"{sign}{wan:,}万"
    return f"{sign}{whole:,}"


def percent(share: float | None, *, signed: bool = False) -> str:
    """A share (0.1234) as '12.3%' ('+12.3%' for growth), or a dash when there was nothing to divide by."""
    if share is None:
        return "—"
    return f"{share * 100:+.1f}%" if signed else f"{share * 100:.1f}%"


def province_short_name(name: str) -> str:
    """The name people say, which fits a phone's chart: 新疆维吾尔自治区 -> 新疆, 黑龙江省 -> 黑龙江."""
    for suffix in PROVINCE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[:-len(suffix)]
    return name


def _axis_labels(rows: list[dict]) -> list[dict]:
    """About five round amounts (1, 2 or 5 times a power of ten yuan) from 0 up to the largest net
    sales, labelled in short yuan; the positions stay integers of fen."""
    highest = max([row["net_fen"] for row in rows] + [1])
    step = 100  # one yuan
    while highest > step * 5:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2  # 1 -> 2 -> 5 -> 10 -> 20 ...
    top = -(-highest // step) * step
    return [{"label": yuan_short(tick), "value": tick} for tick in range(0, top + 1, step)]


def _svg(chart, style_nonce: str | None) -> str:
    chart.add_xml_filter(_without_comments_and_scripts)
    if style_nonce:
        chart.add_xml_filter(lambda root: _with_style_nonce(root, style_nonce))
    return chart.render(is_unicode=True)


def _without_comments_and_scripts(root):
    """Drop pygal's credit comments (they carry URLs), its tooltip configuration script and the
    tooltip the script would show (hidden by an inline style a page's Content-Security-Policy refuses)."""
    for parent in root.iter():
        for child in list(parent):
            if (callable(child.tag) or str(child.tag).rsplit("}", 1)[-1] == "script"
                    or "tooltip-overlay" in child.get("class", "").split()):
                parent.remove(child)
    return root


def _with_style_nonce(root, nonce: str):
    """pygal styles the chart with a style element (its rules name the chart's random id): the
    page's Content-Security-Policy lets it apply by this nonce."""
    for element in root.iter():
        if str(element.tag).rsplit("}", 1)[-1] == "style":
            element.set("nonce", nonce)
    return root


def _day_label(day: date, days: int, words: ChartWords) -> str:
    return words.short_day.format(month=day.month, day=day.day) if days <= 62 else f"{day:%Y-%m-%d}"


def daily_chart(series: list[dict], style_nonce: str | None = None, words: ChartWords = CHINESE) -> str:
    """Net sales day by day, stacked: the national poverty counties' part and the other counties'."""
    days = len(series)
    chart = pygal.StackedBar(
        **COMMON, height=280, title=words.daily_title, no_data_text=words.no_data, value_formatter=yuan,
        x_labels_major_count=min(days, 5), show_minor_x_labels=days <= 7,
    )
    chart.x_labels = [_day_label(row["day"], days, words) for row in series]
    if any(row["net_fen"] or row["poverty_net_fen"] for row in series):
        chart.y_labels = _axis_labels(series)  # pygal reads labels given as dicts only for a chart with data
        chart.add(words.poverty_series, [row["poverty_net_fen"] for row in series])
        chart.add(words.other_series, [row["net_fen"] - row["poverty_net_fen"] for row in series])
    return _svg(chart, style_nonce)


def province_chart(provinces: list[dict], style_nonce: str | None = None, words: ChartWords = CHINESE) -> str:
    """Provinces by net sales (a breakdown without a map), largest on top, split as the daily chart is."""
    rows = list(reversed(provinces))  # pygal draws the first label at the bottom
    names = [province_short_name(row["province"]) for row in rows]
    # pygal sizes label room for Latin letters; a Chinese character is about twice as wide.
    label_room = max(map(len, names), default=0) * STYLE.label_font_size // 2
    chart = pygal.HorizontalStackedBar(
        **COMMON | {"margin_left": COMMON["margin"] + label_room}, height=100 + 32 * max(len(rows), 1),
        title=words.province_title, no_data_text=words.no_data, value_formatter=yuan)
    chart.x_labels = names
    if rows:
        chart.y_labels = _axis_labels(rows)
        chart.add(words.poverty_series, [row["poverty_net_fen"] for row in rows])
        chart.add(words.other_series, [row["net_fen"] - row["poverty_net_fen"] for row in rows])
    return _svg(chart, style_nonce)


@dataclass(frozen=True)
class Dashboard:
    summary: queries.Summary
    counties: list[dict]
    provinces: list[dict]
    categories: list[dict]
    daily_chart_svg: str
    province_chart_svg: str
    campaigns: list[dict]


def dashboard(period: Period, scope: queries.Scope, *, top_counties: int = 20,
              style_nonce: str | None = None, words: ChartWords = CHINESE) -> Dashboard:
    """Everything the administrators' dashboard shows for a period: the summary figures, the top
    counties, the provinces and categories, the campaigns within the period, and the two charts (their style elements carrying
    ``style_nonce``, the page's Content-Security-Policy nonce; their text in ``words``)."""
    provinces = queries.province_ranking(period, scope)
    return Dashboard(
        summary=queries.summary(period, scope),
        counties=queries.county_ranking(period, scope, limit=top_counties),
        provinces=provinces,
        categories=queries.by_category(period, scope),
        daily_chart_svg=daily_chart(queries.daily_series(period, scope), style_nonce, words),
        province_chart_svg=province_chart(provinces, style_nonce, words),
        campaigns=campaign_sales.campaigns_in_period(period, scope),
    )
