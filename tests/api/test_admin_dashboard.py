"""The administrators' reports dashboard (/admin/reports): behind the cookie-session login, the
summary figures in yuan from the rollups, two inline SVG charts that fetch nothing from anywhere,
the county ranking, bad periods answered on the page with a 4xx, and CSV downloads Excel opens."""
import re
from datetime import date

import pytest

from marketplace.reports import charts, rollup
from tests.builders import PASSWORD

WUSHI = "652927"  # Xinjiang: national poverty county and e-commerce demonstration county
NANMING = "520102"  # Guizhou: neither
DASHBOARD = "/admin/reports"
BOM = b"\xef\xbb\xbf"
SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def log_in_through_the_form(client, user, next_path: str | None = None):
    """Sign in as a browser does: read the form's CSRF token, post the form."""
    page = client.get("/login" + (f"?next={next_path}" if next_path else "")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"identifier": user.phone, "password": PASSWORD, "csrf_token": token}
    if next_path:
        form["next"] = next_path
    return client.post("/login", data=form)


@pytest.fixture
def admin_browser(client, build):
    """A client signed in through the login form as an administrator."""
    assert log_in_through_the_form(client, build.user("admin")).status_code == 302
    return client


@pytest.fixture
def sales(build):
    """Paid today and rolled up: 3 jin at 12.50 from Wushi (poor, demonstration) and 1 at 20.00
    from Nanming (neither): 57.50 yuan, 37.50 of it from a poverty county."""
    build.county(WUSHI, "乌什县", is_national_poverty_county=True, is_demonstration_county=True)
    build.county(NANMING, "南明区")
    wushi_apples = build.product(build.user("seller", county=WUSHI), price_fen=1250)
    nanming_rice = build.product(build.user("seller", county=NANMING), price_fen=2000, title="南明香米")
    build.pay(build.checkout(products=[wushi_apples], quantity=3))
    build.pay(build.checkout(products=[nanming_rice]))
    rollup.roll_up_all()


def external_urls(markup: str) -> set[str]:
    """Every absolute or protocol-relative URL in a piece of markup, the SVG namespaces aside."""
    urls = set(re.findall(r"(?:https?:)?//[^\s\"'<>)]+", markup, flags=re.IGNORECASE))
    return {url for url in urls if url not in SVG_NAMESPACES}


def inline_svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)


def test_anonymous_visitor_is_sent_to_log_in_and_brought_back(client, build):
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/reports"

    signed_in = log_in_through_the_form(client, build.user("admin"), next_path="/admin/reports")
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/admin/reports"
    assert client.get(DASHBOARD).status_code == 200


def test_anonymous_csv_download_is_sent_to_log_in(client):
    response = client.get(f"{DASHBOARD}/counties.csv?preset=today")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/reports/counties.csv%3Fpreset%3Dtoday"


@pytest.mark.parametrize("next_path", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"])
def test_login_never_sends_the_browser_off_the_site(client, build, next_path):
    response = log_in_through_the_form(client, build.user(), next_path=next_path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_signed_in_non_administrator_gets_a_403_page(client, build):
    log_in_through_the_form(client, build.user("seller", "buyer"))
    for path in (DASHBOARD, f"{DASHBOARD}/summary.csv"):
        response = client.get(path)
        assert response.status_code == 403
        assert "仅限管理员" in response.get_data(as_text=True)


def test_administrator_sees_the_figures_of_paid_sales_in_yuan(admin_browser, sales):
    response = admin_browser.get(DASHBOARD)
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "¥57.50" in page  # net sales
    assert "65.2%" in page and "¥37.50" in page  # poverty counties: 3750 of 5750 fen, also demonstration
    assert re.search(r"<dt>订单</dt><dd>2</dd>", page)
    assert re.search(r"<dt>卖家</dt><dd>2</dd>", page)
    assert re.search(r"<dt>同比增长</dt><dd>—</dd>", page)  # nothing sold a year earlier
    assert "0 笔销售待汇总" in page and "数据截至" in page


def test_freshness_counts_sales_not_yet_rolled_up(admin_browser, build, sales):
    build.pay(build.checkout(products=[build.product(build.user("seller", county=WUSHI))]))

    page = admin_browser.get(DASHBOARD).get_data(as_text=True)

    assert "1 笔销售待汇总" in page
    assert "¥57.50" in page  # the figures are the rollups', until the job runs


def test_dashboard_inlines_two_svg_charts_that_fetch_nothing(admin_browser, sales):
    page = admin_browser.get(DASHBOARD).get_data(as_text=True)

    svgs = inline_svgs(page)
    assert len(svgs) == 2
    assert "每日净销售额" in svgs[0] and "国家级贫困县" in svgs[0]
    assert "各省净销售额" in svgs[1] and ">新疆<" in svgs[1] and ">贵州<" in svgs[1]
    for svg in svgs:
        assert external_urls(svg) == set()
        assert "<script" not in svg
    assert external_urls(page) == set()
    assert not re.search(r"<script\b", page)


def test_dashboard_stylesheets_are_served_by_the_app(admin_browser):
    page = admin_browser.get(DASHBOARD).get_data(as_text=True)

    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert len(stylesheets) == 2
    for href in stylesheets:
        response = admin_browser.get(href)
        assert response.status_code == 200 and response.mimetype == "text/css", href


def test_dashboard_ranks_counties_with_their_flags(admin_browser, sales):
    page = admin_browser.get(DASHBOARD).get_data(as_text=True)

    table = re.search(r'<h2 id="counties-heading">.*?</table>', page, flags=re.DOTALL).group(0)
    rows = re.findall(r"<tr>.*?</tr>", table.split("<tbody>")[1], flags=re.DOTALL)
    assert len(rows) == 2
    assert "乌什县" in rows[0] and "37.50" in rows[0] and "贫困县" in rows[0] and "示范县" in rows[0]
    assert "南明区" in rows[1] and "20.00" in rows[1] and "badge" not in rows[1]


def test_charts_render_without_external_references():
    series = [{"day": date(2025, 11, day), "net_fen": day * 1234, "poverty_net_fen": day * 1000}
              for day in range(1, 12)]
    provinces = [{"province": "新疆维吾尔自治区", "net_fen": 5000, "poverty_net_fen": 3000},
                 {"province": "贵州省", "net_fen": 100, "poverty_net_fen": 0}]

    for svg in (charts.daily_chart(series), charts.province_chart(provinces), charts.daily_chart([]),
                charts.province_chart([])):
        assert svg.startswith("<svg")
        assert external_urls(svg) == set()
        assert not re.search(r"<script|<\?xml|@import|url\(|<!--", svg)


def test_an_empty_period_shows_dashes_and_empty_charts(admin_browser):
    response = admin_browser.get(DASHBOARD, query_string={"preset": "today"})
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "¥0.00" in page and "暂无数据" in page
    assert len(inline_svgs(page)) == 2


@pytest.mark.parametrize(("query", "field", "message"), [
    ({"from": "2026-03-10", "to": "2026-03-01"}, "to", "起始日晚于截止日"),
    ({"preset": "month", "from": "2026-03-01", "to": "2026-03-10"}, "preset", "不能同时选"),
    ({"from": "2026-03-01"}, "to", "请同时填写起始日和截止日"),
    ({"to": "2026-03-01"}, "from", "请同时填写起始日和截止日"),
    ({"from": "2020-01-01", "to": "2026-03-01"}, "to", "最多覆盖五年"),
    ({"from": "0001-01-01", "to": "0001-01-02"}, "from", "2000-01-01 至 2100-12-31"),
    ({"from": "not-a-day", "to": "2026-03-01"}, "from", "请选择"),
    ({"preset": "christmas"}, "preset", "请从列出的时间段中选择"),
    ({"province": "Xinjiang"}, "province", "6 位代码"),
])
def test_bad_period_is_explained_beside_its_field_in_chinese(admin_browser, query, field, message):
    response = admin_browser.get(DASHBOARD, query_string=query)
    page = response.get_data(as_text=True)

    assert response.status_code == 422
    assert 'class="error" role="alert"' in page
    beside = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert beside and message in beside.group(1)
    assert not re.search(r"\b(is after|either a preset|both from and to|Not a valid|preset:|6-digit)\b", page)
    assert '<form method="get"' in page  # to correct it
    assert "<svg" not in page


def test_bad_period_is_explained_in_english_on_the_english_page(admin_browser):
    admin_browser.get("/language/en")
    response = admin_browser.get(DASHBOARD, query_string={"from": "2026-03-10", "to": "2026-03-01"})
    page = response.get_data(as_text=True)

    assert response.status_code == 422
    assert '<p class="field-error" id="to-error">The first day is after the last day.</p>' in page
    assert "起始日晚于截止日" not in page


def test_unknown_province_is_a_404_on_the_page(admin_browser):
    response = admin_browser.get(DASHBOARD, query_string={"province": "990000"})
    assert response.status_code == 404
    assert 'role="alert"' in response.get_data(as_text=True)
    assert "行政区划登记中没有这个省" in response.get_data(as_text=True)


def test_the_charts_style_elements_apply_by_the_pages_nonce_and_nothing_else_is_inline(admin_browser, sales):
    response = admin_browser.get(f"{DASHBOARD}?preset=today")

    page = response.get_data(as_text=True)
    [style_src] = [part.split()[1:] for part in response.headers["Content-Security-Policy"].split(";")
                   if part.split()[0] == "style-src"]
    assert style_src[0] == "'self'" and style_src[1].startswith("'nonce-") and len(style_src) == 2
    nonce = style_src[1][len("'nonce-"):-1]
    styles = re.findall(r"<style\b[^>]*>", page)
    assert len(styles) == 2 and all(f'nonce="{nonce}"' in tag for tag in styles)  # one a chart
    assert " style=" not in page and "<script" not in page
    again = admin_browser.get(f"{DASHBOARD}?preset=today").headers["Content-Security-Policy"]
    assert nonce not in again  # a fresh nonce each time


def test_csv_download_opens_in_excel(admin_browser, sales):
    page = admin_browser.get(DASHBOARD, query_string={"preset": "last_7_days"}).get_data(as_text=True)
    link = re.search(r'href="(/admin/reports/counties\.csv[^"]*)"', page).group(1).replace("&amp;", "&")

    response = admin_browser.get(link)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="counties_')
    assert response.data.startswith(BOM)
    lines = response.data[len(BOM):].decode("utf-8").splitlines()
    assert lines[0].startswith("排名,县级行政区划代码,县")
    assert lines[1].startswith(f"1,{WUSHI},乌什县")


def test_csv_download_with_a_bad_period_is_a_4xx_page(admin_browser):
    response = admin_browser.get(f"{DASHBOARD}/daily.csv", query_string={"from": "2026-03-10", "to": "2026-03-01"})
    assert response.status_code == 422
    assert "起始日晚于截止日" in response.get_data(as_text=True)


@pytest.mark.parametrize(("name", "short"), [("新疆维吾尔自治区", "新疆"), ("内蒙古自治区", "内蒙古"), ("黑龙江省", "黑龙江"),
                                             ("北京市", "北京"), ("香港特别行政区", "香港")])
def test_provinces_go_by_their_short_names_on_the_chart(name, short):
    assert charts.province_short_name(name) == short


@pytest.mark.parametrize(("fen", "shown"), [(0, "0.00"), (5, "0.05"), (1250, "12.50"), (123456789, "1,234,567.89"),
                                            (-150, "-1.50")])
def test_yuan_is_formatted_from_fen_by_integer_arithmetic(fen, shown):
    assert charts.yuan(fen) == shown
