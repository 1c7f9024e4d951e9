"""Administration pages (/admin) without a browser's script: who may open each page, the shell's
menu, the review of listings (paged), flagged sales and exclusions, stations' remittances, payment
events, users' roles; each form's success and its bad input answered beside the field, nothing
changed."""
import html
import re

import pytest
from sqlalchemy import select

from marketplace.accounts import services as accounts
from marketplace.catalog.models import Product
from marketplace.payments import events
from marketplace.reports import review
from marketplace.reports.charts import yuan
from marketplace.reports.models import SaleExclusion
from marketplace.stations import cash

WUSHI = "652927"  # a national poverty county
ADMIN_ONLY = ("/admin/review", "/admin/flags", "/admin/claims", "/admin/exclusions", "/admin/stations",
              "/admin/payments", "/admin/users", "/admin/campaigns")
MENU = ["/admin/reports", *ADMIN_ONLY]


def field_error(page: str, field: str) -> str | None:
    """The message shown beside a field (the element the field points to with aria-describedby)."""
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    return html.unescape(match.group(1)) if match else None


def menu_links(page: str) -> list[str]:
    menu = re.search(r'<nav class="menu"[^>]*>(.*?)</nav>', page, flags=re.DOTALL).group(1)
    return re.findall(r'<a href="([^"]+)"', menu)


def text_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def admin(build, session):
    user = build.user("admin", display_name="管理员王芳")
    session.commit()
    return user


@pytest.fixture
def admin_browser(browser, admin):
    """A browser signed in as an administrator through the login form."""
    assert browser.log_in(admin).status_code == 302
    return browser


@pytest.fixture
def official_browser(browser, build, session):
    """A browser signed in as the official of Wushi county."""
    build.county(WUSHI, "乌什县", is_national_poverty_county=True)
    official = build.official(WUSHI)
    session.commit()
    assert browser.log_in(official).status_code == 302
    return browser


def pending(build, session, count: int = 1, **overrides) -> list[Product]:
    seller = build.user("seller", county=WUSHI)
    products = [build.product(seller, status="pending_review", title=f"待审核核桃{number:02d}", **overrides)
                for number in range(count)]
    session.commit()
    return products


def status_of(session, product: Product) -> str:
    session.expire_all()
    return session.get(Product, product.id).status


# ---------------------------------------------------------------- who may open what


def test_an_administrator_lands_on_the_reports_with_the_shells_menu_language_switch_and_logout(browser, admin):
    assert browser.log_in(admin).headers["Location"] == "/admin/reports"

    page = text_of(browser.get("/admin/reports"))

    assert [link.split("?")[0] for link in menu_links(page)] == MENU
    assert 'action="/logout"' in page and "退出登录" in page
    assert 'href="/language/en?next=/admin/reports"' in page
    assert re.search(r'<a href="/admin/reports" aria-current="page">报表</a>', page)


@pytest.mark.parametrize("path", ADMIN_ONLY)
def test_every_administration_page_opens_for_an_administrator(admin_browser, path):
    response = admin_browser.get(path)
    assert response.status_code == 200
    assert 'aria-current="page"' in text_of(response)


@pytest.mark.parametrize("roles", [("buyer",), ("seller",), ("partner",)])
def test_other_roles_are_refused_every_administration_page(browser, build, session, roles):
    person = build.user(*roles)
    session.commit()
    browser.log_in(person)

    for path in MENU:
        response = browser.get(path)
        assert response.status_code == 403, path
        assert "此页面仅限管理员" in text_of(response)


def test_a_visitor_is_sent_to_log_in_and_brought_back(browser, admin):
    response = browser.get("/admin/users?role=seller")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/users%3Frole%3Dseller"


def test_an_official_sees_the_reports_of_their_county_only(official_browser):
    page = text_of(official_browser.get("/admin/reports"))

    assert menu_links(page) == ["/admin/reports"]
    assert "统计范围：新疆维吾尔自治区 乌什县" in page
    for path in ADMIN_ONLY:
        response = official_browser.get(path)
        assert response.status_code == 403, path
        assert "此页面仅限管理员访问" in text_of(response)


def test_an_official_asking_for_another_province_is_told_beside_the_form(official_browser):
    response = official_browser.get("/admin/reports", query_string={"province": "520000"})
    assert response.status_code == 403
    assert field_error(text_of(response), "province") == "这不在您账号的统计范围之内。"


def test_the_home_page_links_staff_to_the_administration(browser, admin, build, session):
    page = text_of(browser.get("/"))
    assert 'href="/admin/reports"' not in page

    browser.log_in(admin)
    assert re.search(r'<a href="/admin/reports">管理后台</a>', text_of(browser.get("/")))


def test_the_administration_speaks_english_after_the_switch(admin_browser):
    admin_browser.get("/language/en?next=/admin/review")
    page = text_of(admin_browser.get("/admin/review"))
    assert "Listings to review" in page and "No listing is waiting for review." in page
    assert ">Users and roles</a>" in page and "待审核" not in page


def test_the_dashboard_in_english_labels_its_figures_and_charts_in_english(admin_browser):
    admin_browser.get("/language/en")
    page = text_of(admin_browser.get("/admin/reports?preset=today"))

    assert "Net online retail sales" in page and "Share of national poverty counties" in page
    assert "Net sales each day (yuan)" in page and "Net sales by province (yuan)" in page and "No data yet" in page
    assert not re.search(r"[\u4e00-\u9fff]", re.sub(r'<nav class="lang".*?</nav>', "", page, flags=re.DOTALL))


# ---------------------------------------------------------------- listings waiting for review


def test_the_review_queue_pages_by_ten_oldest_first(admin_browser, build, session):
    products = pending(build, session, 23)

    first = text_of(admin_browser.get("/admin/review"))
    third = text_of(admin_browser.get("/admin/review?page=3"))

    assert "23 个商品等待审核" in first
    assert re.findall(r"待审核核桃(\d\d)", first) == [f"{n:02d}" for n in range(10)]
    assert 'href="/admin/review?page=2"' in first and "第 1 页，共 3 页" in first
    assert re.findall(r"待审核核桃(\d\d)", third) == ["20", "21", "22"]
    assert 'href="/admin/review?page=2"' in third and "page=4" not in third
    assert len(products) == 23


@pytest.mark.parametrize("page_number", ["0", "-1", "abc", "100001", "1.5"])
def test_a_page_number_that_is_none_is_a_400(admin_browser, page_number):
    response = admin_browser.get(f"/admin/review?page={page_number}")
    assert response.status_code == 400
    assert "没有这个页码" in text_of(response)


def test_an_administrator_approves_a_listing(admin_browser, build, session):
    [walnuts] = pending(build, session)

    response = admin_browser.send("/admin/review", {}, to=f"/admin/review/{walnuts.id}/approve?page=1")

    assert response.status_code == 302 and response.headers["Location"] == "/admin/review?page=1"
    assert status_of(session, walnuts) == "active"
    assert "已通过" in text_of(admin_browser.get("/admin/review"))


def test_an_administrator_rejects_a_listing_with_a_reason(admin_browser, build, session):
    [walnuts] = pending(build, session)

    response = admin_browser.send("/admin/review", {"reason": "照片不是实物"}, to=f"/admin/review/{walnuts.id}/reject")

    assert response.status_code == 302
    session.expire_all()
    rejected = session.get(Product, walnuts.id)
    assert rejected.status == "rejected" and rejected.review_note == "照片不是实物"


@pytest.mark.parametrize(("reason", "message"), [("", "请填写理由。"), ("   ", "请填写理由。"), ("差", "2 至 500 个字。"),
                                                 ("长" * 501, "2 至 500 个字。")])
def test_a_rejection_without_a_proper_reason_comes_back_beside_the_field(admin_browser, build, session, reason, message):
    [walnuts] = pending(build, session)

    response = admin_browser.send("/admin/review", {"reason": reason}, to=f"/admin/review/{walnuts.id}/reject")

    assert response.status_code == 422
    assert message in field_error(text_of(response), f"reason-{walnuts.id}")
    assert status_of(session, walnuts) == "pending_review"


def test_a_listing_decided_meanwhile_is_a_409_with_the_queue(admin_browser, build, session, admin):
    [walnuts] = pending(build, session)
    form_page = admin_browser.hidden_fields("/admin/review")
    admin_browser.send("/admin/review", {}, to=f"/admin/review/{walnuts.id}/approve")

    response = admin_browser.client.post(f"/admin/review/{walnuts.id}/reject", data={**form_page, "reason": "重复"})

    assert response.status_code == 409
    assert "已有人处理过了" in text_of(response)
    assert status_of(session, walnuts) == "active"


def test_a_form_without_its_csrf_token_changes_nothing(admin_browser, build, session):
    [walnuts] = pending(build, session)

    response = admin_browser.client.post(f"/admin/review/{walnuts.id}/approve")

    assert response.status_code == 400
    assert status_of(session, walnuts) == "pending_review"


# ---------------------------------------------------------------- flagged sales and exclusions


@pytest.fixture
def self_dealt(build, session):
    """A sale from Wushi (a poverty county) bought by the partner of a station there: self-dealing."""
    build.county(WUSHI, "乌什县", is_national_poverty_county=True)
    partner = build.user("partner", "buyer", county=WUSHI)
    build.station(partner, build.village(WUSHI))
    checkout = build.pay(build.checkout(partner, [build.product(build.user("seller", county=WUSHI))]))
    session.commit()
    return checkout.orders[0]


def active_exclusion(session, order_id: int):
    session.expire_all()
    return session.scalar(select(SaleExclusion).where(SaleExclusion.order_id == order_id,
                                                      SaleExclusion.lifted_at.is_(None)))


def test_a_flagged_sale_is_excluded_from_the_flags_and_restored_from_the_exclusions(admin_browser, session, self_dealt):
    flags_page = text_of(admin_browser.get("/admin/flags"))
    assert "自买自卖" in flags_page and "乌什县" in flags_page

    excluded = admin_browser.send("/admin/flags", {"order_id": str(self_dealt.id), "flag": "self_dealing",
                                                    "reason": "卖家自己下单"}, to="/admin/exclusions?next=/admin/flags")
    assert excluded.status_code == 302 and excluded.headers["Location"] == "/admin/flags"
    exclusion = active_exclusion(session, self_dealt.id)
    assert exclusion.flag == "self_dealing" and exclusion.reason == "卖家自己下单"
    assert "已从官方统计中剔除" in text_of(admin_browser.get("/admin/flags"))

    restored = admin_browser.send("/admin/exclusions", {"reason": "核实为正常购买"},
                                  to=f"/admin/exclusions/{self_dealt.id}/restore")
    assert restored.status_code == 302
    assert active_exclusion(session, self_dealt.id) is None


@pytest.mark.parametrize(("order_id", "reason", "field", "status", "message"), [
    ("", "刷单", "order_id", 422, "请填写订单号。"),
    ("十二", "刷单", "order_id", 422, "请填写整数"),
    ("99999999", "刷单", "order_id", 404, "这个订单没有可剔除的已付款销售。"),
    ("{order}", "", "reason", 422, "请填写理由。"),
])
def test_an_exclusion_with_bad_input_comes_back_beside_the_field(admin_browser, session, self_dealt, order_id, reason,
                                                                  field, status, message):
    response = admin_browser.send("/admin/exclusions", {"order_id": order_id.format(order=self_dealt.id),
                                                        "reason": reason}, to="/admin/exclusions")

    assert response.status_code == status
    assert message in field_error(text_of(response), field)
    assert active_exclusion(session, self_dealt.id) is None


def test_excluding_a_sale_twice_is_a_409_beside_the_order_number(admin_browser, session, self_dealt, admin):
    review.exclude_sale(self_dealt.id, admin, reason="已核实")

    response = admin_browser.send("/admin/exclusions", {"order_id": str(self_dealt.id), "reason": "再来一次"},
                                  to="/admin/exclusions")

    assert response.status_code == 409
    assert field_error(text_of(response), "order_id") == "这笔销售已经从官方统计中剔除。"


def test_restoring_without_a_reason_comes_back_beside_the_field(admin_browser, session, self_dealt, admin):
    review.exclude_sale(self_dealt.id, admin, reason="已核实")

    response = admin_browser.send("/admin/exclusions", {"reason": " "}, to=f"/admin/exclusions/{self_dealt.id}/restore")

    assert response.status_code == 422
    assert field_error(text_of(response), f"restore-{self_dealt.id}") == "请填写理由。"
    assert active_exclusion(session, self_dealt.id) is not None


def test_a_bad_period_on_the_flags_page_is_told_beside_the_field(admin_browser):
    response = admin_browser.get("/admin/flags", query_string={"from": "2026-03-10", "to": "2026-03-01"})
    assert response.status_code == 422
    assert field_error(text_of(response), "to") == "起始日晚于截止日。"


# ---------------------------------------------------------------- stations and their cash


@pytest.fixture
def station_owing(build, session):
    """A station whose partner collected the cash of one order (its total is what the station owes)."""
    station = build.station(name="英阿瓦提村服务站")
    checkout = build.checkout(products=[build.product(price_fen=1250)], station=station,
                              payment_method="cash_at_station")
    build.collect_cash(checkout)
    session.commit()
    assert cash.balance_fen(station.id) == checkout.grand_total_fen > 1000
    return station


def test_the_stations_show_what_each_owes_and_a_remittance_is_recorded(admin_browser, station_owing):
    owed = cash.balance_fen(station_owing.id)
    listed = text_of(admin_browser.get("/admin/stations"))
    assert "英阿瓦提村服务站" in listed and f"¥{yuan(owed)}" in listed
    assert f'href="/admin/stations/{station_owing.id}"' in listed

    path = f"/admin/stations/{station_owing.id}"
    response = admin_browser.send(path, {"amount": "10", "reference": "RC-2026-001"}, to=f"{path}/remittances")

    assert response.status_code == 302
    assert cash.balance_fen(station_owing.id) == owed - 1000
    page = text_of(admin_browser.get(path))
    assert "已登记上缴 ¥10.00" in page and "RC-2026-001" in page and f"¥{yuan(owed - 1000)}" in page


@pytest.mark.parametrize(("typed", "field", "status", "message"), [
    ({"amount": "{one_fen_more}", "reference": "RC-1"}, "amount", 409, "超过了服务站所欠的金额（¥{owed}）"),
    ({"amount": "abc", "reference": "RC-1"}, "amount", 422, "请用数字填写金额（元），最多两位小数"),
    ({"amount": "0", "reference": "RC-1"}, "amount", 422, "请用数字填写金额（元），最多两位小数"),
    ({"amount": "", "reference": "RC-1"}, "amount", 422, "请填写金额（元）。"),
    ({"amount": "5", "reference": "  "}, "reference", 422, "请填写收据号或流水号。"),
    ({"amount": "5", "reference": "R" * 101}, "reference", 422, "最多 100 个字"),
])
def test_a_remittance_with_bad_input_comes_back_beside_the_field(admin_browser, station_owing, typed, field, status,
                                                                 message):
    owed = cash.balance_fen(station_owing.id)
    path = f"/admin/stations/{station_owing.id}"
    filled = {name: value.format(one_fen_more=yuan(owed + 1)) for name, value in typed.items()}

    response = admin_browser.send(path, filled, to=f"{path}/remittances")

    assert response.status_code == status
    assert message.format(owed=yuan(owed)) in field_error(text_of(response), field)
    assert cash.balance_fen(station_owing.id) == owed


def test_a_remittance_sent_twice_is_recorded_once(admin_browser, station_owing):
    owed = cash.balance_fen(station_owing.id)
    path = f"/admin/stations/{station_owing.id}"
    form = {**admin_browser.hidden_fields(path), "amount": "5", "reference": "RC-2026-002"}

    first = admin_browser.client.post(f"{path}/remittances", data=form)
    second = admin_browser.client.post(f"{path}/remittances", data=form)

    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == path
    assert cash.balance_fen(station_owing.id) == owed - 500
    assert "此表单已提交过，只办理了一次。" in text_of(admin_browser.get(path))


def test_an_unknown_station_is_a_404_page(admin_browser):
    assert admin_browser.get("/admin/stations/999999").status_code == 404


# ---------------------------------------------------------------- payment events


def test_payment_events_that_need_attention_are_listed(admin_browser, session):
    events.apply_stripe_event({"id": "evt_unknown_intent", "type": "payment_intent.succeeded",
                               "data": {"object": {"id": "pi_from_elsewhere", "object": "payment_intent"}}})

    page = text_of(admin_browser.get("/admin/payments"))

    assert "evt_unknown_intent" in page and "pi_from_elsewhere" in page
    assert "payment_intent.succeeded" in page


# ---------------------------------------------------------------- users and roles


def test_users_are_listed_by_role_and_an_official_is_granted_a_scope(admin_browser, build, session):
    build.county(WUSHI, "乌什县")
    clerk = build.user("buyer", display_name="县商务局李明")
    session.commit()
    assert "县商务局李明" in text_of(admin_browser.get("/admin/users?role=buyer"))
    assert "县商务局李明" not in text_of(admin_browser.get("/admin/users?role=seller"))

    path = f"/admin/users/{clerk.id}"
    response = admin_browser.send(path, {"roles": ["buyer", "official"], "report_scope": WUSHI, "is_active": "y"})

    assert response.status_code == 302
    session.expire_all()
    changed = accounts.get_user(clerk.id)
    assert set(changed.roles) == {"buyer", "official"} and accounts.report_scope_of(changed).county_adcode == WUSHI


def test_the_list_of_one_role_pages_keeping_the_role(admin_browser, build, session):
    for number in range(21):
        build.user("seller", display_name=f"卖家{number:02d}")
    session.commit()

    first = text_of(admin_browser.get("/admin/users?role=seller"))
    next_page = html.unescape(re.search(r'<a class="button secondary" rel="next" href="([^"]+)"', first).group(1))
    second = text_of(admin_browser.get(next_page))

    assert next_page == "/admin/users?page=2&role=seller"
    assert re.findall(r">卖家(\d\d)</a>", second) == ["20"]


@pytest.mark.parametrize(("typed", "field", "status", "message"), [
    ({"roles": [], "is_active": "y"}, "roles", 422, "请至少勾选一个角色。"),
    ({"roles": ["buyer", "wizard"], "is_active": "y"}, "roles", 422, "请从列出的角色中选择。"),
    ({"roles": ["seller"], "is_active": "y"}, "county_adcode", 422, "卖家和服务站合伙人必须填写所在县。"),
    ({"roles": ["seller"], "county_adcode": "999999", "is_active": "y"}, "county_adcode", 404, "没有这个县"),
    ({"roles": ["seller"], "county_adcode": "65", "is_active": "y"}, "county_adcode", 422, "6 位代码"),
    ({"roles": ["buyer"], "report_scope": WUSHI, "is_active": "y"}, "report_scope", 422, "请同时勾选该角色"),
    ({"roles": ["official"], "report_scope": "999999", "is_active": "y"}, "report_scope", 422, "没有这个代码的省或县"),
])
def test_a_role_change_with_bad_input_comes_back_beside_the_field(admin_browser, build, session, typed, field, status,
                                                                  message):
    build.county(WUSHI, "乌什县")
    clerk = build.user("buyer")
    session.commit()

    response = admin_browser.send(f"/admin/users/{clerk.id}", typed)

    assert response.status_code == status
    assert message in field_error(text_of(response), field)
    session.expire_all()
    assert accounts.get_user(clerk.id).roles == ["buyer"]


def test_an_administrator_cannot_take_away_their_own_role(admin_browser, admin, session):
    response = admin_browser.send(f"/admin/users/{admin.id}", {"roles": ["buyer"], "is_active": "y"})

    assert response.status_code == 409
    assert "不能取消自己的管理员角色" in field_error(text_of(response), "roles")
    session.expire_all()
    assert "admin" in accounts.get_user(admin.id).roles


def test_an_unknown_user_or_role_is_a_4xx_page(admin_browser):
    assert admin_browser.get("/admin/users/999999").status_code == 404
    assert admin_browser.get("/admin/users?role=wizard").status_code == 400
