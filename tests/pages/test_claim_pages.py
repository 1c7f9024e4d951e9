"""Claim pages for each party: the buyer opens a claim from the order's page (amount in yuan, photos)
and follows it, the seller answers from /sell/orders (accept, offer, contest), the buyer answers an
offer, the station partner claims for a villager and pays the cash back, administrators decide
escalated claims and see each seller's claim rate. Bad input is refused beside its field with
nothing changed; the page's figures are the API's."""
import io
import re
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.claims.models import Claim, ClaimEvent, ClaimPhoto
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders.models import Order
from marketplace.payments.models import Refund
from marketplace.stations.models import StationCashEntry
from tests.pages.conftest import Browser, expire_sign_in


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 30, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def photo(content: bytes | None = None, name: str = "apples.png"):
    return (io.BytesIO(content if content is not None else png()), name)


def text_of(response) -> str:
    return response.get_data(as_text=True)


def rows() -> tuple[int, int, int, int]:
    """Claims, their events, photos, refunds: what a refused form must leave as it was."""
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Claim, ClaimEvent, ClaimPhoto, Refund))


def the_claim() -> Claim:
    db.session.expire_all()
    return db.session.scalars(select(Claim)).one()


def signed_in(app, user) -> Browser:
    browser = Browser(app.test_client())
    assert browser.log_in(user).status_code == 302
    return browser


@pytest.fixture
def order(build, buyer, session) -> Order:
    """2 jin of apples at ¥12.50 for the buyer, paid by card and delivered just now."""
    order = build.delivered_order(buyer, products=[build.product(price_fen=1250)], quantity=2)
    session.commit()
    return order


@pytest.fixture
def seller_of(app, order) -> Browser:
    return signed_in(app, db.session.get(User, order.seller_user_id))


def claim_path(order) -> str:
    return f"/orders/{order.id}/lines/{order.lines[0].id}/claim"


def open_claim(browser, order, *, files=None, **fields):
    body = {"reason": "rotten", "description": "三斤苹果烂了", "amount": "12.34", **fields}
    return browser.send(claim_path(order), body, files=files)


# ---------------------------------------------------------------- the buyer


def test_both_sides_add_photos_later_until_each_has_four(buyer_browser, seller_of, order):
    open_claim(buyer_browser, order, files={"photos": [photo(), photo()]})
    claim = the_claim()
    page = f"/claims/{claim.id}"
    assert 'id="photos-form"' in text_of(buyer_browser.get(page))

    added = buyer_browser.send(page, {}, to=f"{page}/photos", files={"photos": [photo(), photo()]})
    assert added.status_code == 302
    assert 'id="photos-form"' not in text_of(buyer_browser.get(page))  # four from the buyer's side now
    before = rows()
    full = buyer_browser.send(page, {}, to=f"{page}/photos", files={"photos": photo()})
    assert full.status_code in (409, 422) and rows() == before

    seller_page = f"/sell/claims/{claim.id}"
    assert seller_of.send(seller_page, {}, to=f"{seller_page}/photos", files={"photos": photo()}).status_code == 302
    claim = the_claim()
    assert sorted(p.side for p in claim.photos) == ["buyer"] * 4 + ["seller"]
    assert [e.kind for e in claim.events].count("photo_added") == 3


def test_photos_that_are_not_images_are_refused_and_none_is_kept(buyer_browser, order):
    open_claim(buyer_browser, order)
    page = f"/claims/{the_claim().id}"
    before = rows()

    refused = buyer_browser.send(page, {}, to=f"{page}/photos",
                                 files={"photos": [photo(), photo(b"not a picture", "notes.png")]})

    assert refused.status_code in (415, 422) and rows() == before
    assert buyer_browser.send(page, {}, to=f"{page}/photos").status_code == 422  # no photo chosen
    assert rows() == before


def test_the_order_page_offers_a_claim_on_each_received_line(buyer_browser, order):
    page = text_of(buyer_browser.get(f"/orders/{order.id}"))

    assert f'href="{claim_path(order)}"' in page


def test_the_buyer_opens_a_claim_with_a_photo_and_the_amount_in_yuan_becomes_exact_fen(buyer_browser, order):
    response = open_claim(buyer_browser, order, files={"photos": photo()})

    claim = the_claim()
    assert response.status_code == 302 and response.location.endswith(f"/claims/{claim.id}")
    assert (claim.amount_asked_fen, claim.reason, claim.status, len(claim.photos)) == (1234, "rotten", "open", 1)
    page = text_of(buyer_browser.get(f"/claims/{claim.id}"))
    assert 'data-status="open"' in page and "¥12.34" in page and 'id="respond-by"' in page
    assert re.findall(r'<li data-kind="(\w+)">', page) == ["opened"]
    assert page.count('data-side="buyer"') == 1
    order_page = text_of(buyer_browser.get(f"/orders/{order.id}"))
    assert f'/claims/{claim.id}"' in order_page and f'href="{claim_path(order)}"' not in order_page


@pytest.mark.parametrize(("amount", "words"), [("abc", ""), ("1.234", ""), ("", ""), ("0", ""), ("25.01", "¥25.00")])
def test_a_bad_amount_is_refused_beside_the_field_and_nothing_is_opened(buyer_browser, order, amount, words):
    before = rows()

    response = open_claim(buyer_browser, order, amount=amount)

    assert response.status_code == 422
    assert re.search(r'id="amount-error">[^<]*' + re.escape(words), text_of(response))
    assert rows() == before


def test_a_file_that_is_not_a_photo_is_refused_beside_the_photos(buyer_browser, order):
    before = rows()

    response = open_claim(buyer_browser, order, files={"photos": photo(b"not a picture at all", "note.png")})

    assert response.status_code == 422 and 'id="photos-error"' in text_of(response)
    assert rows() == before


def test_a_claim_after_the_window_is_refused_and_not_offered(buyer_browser, order, clock):
    clock.now = utcnow() + timedelta(hours=49)
    before = rows()

    assert f'href="{claim_path(order)}"' not in text_of(buyer_browser.get(f"/orders/{order.id}"))
    response = open_claim(buyer_browser, order)

    assert response.status_code == 409 and "48" in text_of(response)
    assert rows() == before


def test_someone_elses_line_cannot_be_claimed(app, build, order, session):
    stranger = build.user("buyer")
    session.commit()
    before = rows()

    response = open_claim(signed_in(app, stranger), order)

    assert response.status_code == 404
    assert rows() == before


def test_a_form_sent_twice_opens_one_claim(buyer_browser, order):
    fields = {**buyer_browser.hidden_fields(claim_path(order)), "reason": "damaged", "description": "箱子压坏了",
              "amount": "5"}
    first = buyer_browser.client.post(claim_path(order), data=fields)
    second = buyer_browser.client.post(claim_path(order), data=fields)

    assert first.status_code == second.status_code == 302 and first.location == second.location
    assert the_claim().amount_asked_fen == 500


def test_my_claims_lists_the_buyers_claims(buyer_browser, order):
    open_claim(buyer_browser, order)

    page = text_of(buyer_browser.get("/claims"))

    assert f'id="claim-{the_claim().id}"' in page


# ---------------------------------------------------------------- the seller's answers


def test_the_seller_sees_the_claim_with_its_deadline_and_accepting_refunds_it(buyer_browser, seller_of, order):
    open_claim(buyer_browser, order)
    claim = the_claim()

    orders_page = text_of(seller_of.get("/sell/orders"))
    assert f'id="claim-{claim.id}"' in orders_page and "¥12.34" in orders_page
    response = seller_of.send(f"/sell/claims/{claim.id}", {}, to=f"/sell/claims/{claim.id}/accept")

    assert response.status_code == 302 and response.location.endswith(f"/sell/claims/{claim.id}")
    claim = the_claim()
    refund = db.session.get(Refund, claim.refund_id)
    assert (claim.status, claim.granted_fen, refund.amount_fen) == ("accepted", 1234, 1234)
    page = text_of(buyer_browser.get(f"/claims/{claim.id}"))
    assert 'data-status="accepted"' in page and 'id="refund"' in page and 'id="amount-granted"' in page
    assert re.findall(r'<li data-kind="(\w+)">', page) == ["opened", "accepted"]


def test_an_offer_the_buyer_accepts_refunds_the_offer(buyer_browser, seller_of, order):
    open_claim(buyer_browser, order)
    claim = the_claim()

    offered = seller_of.send(f"/sell/claims/{claim.id}", {"amount": "6", "note": "只有一斤坏了"},
                             to=f"/sell/claims/{claim.id}/offer")
    assert offered.status_code == 302 and the_claim().offered_fen == 600
    page = text_of(buyer_browser.get(f"/claims/{claim.id}"))
    assert 'id="accept-offer"' in page and "只有一斤坏了" in page
    accepted = buyer_browser.send(f"/claims/{claim.id}", {}, to=f"/claims/{claim.id}/accept-offer")

    assert accepted.status_code == 302
    claim = the_claim()
    assert (claim.status, claim.granted_fen, db.session.get(Refund, claim.refund_id).amount_fen) == ("accepted", 600, 600)


def test_an_offer_not_smaller_than_asked_is_refused_beside_the_amount(buyer_browser, seller_of, order):
    open_claim(buyer_browser, order)
    claim = the_claim()

    response = seller_of.send(f"/sell/claims/{claim.id}", {"amount": "12.34"}, to=f"/sell/claims/{claim.id}/offer")

    assert response.status_code == 422 and 'id="amount-error"' in text_of(response)
    assert the_claim().status == "open"


def test_another_seller_cannot_see_or_answer_the_claim(app, build, buyer_browser, order, session):
    open_claim(buyer_browser, order)
    claim = the_claim()
    other = build.user("seller")
    session.commit()
    browser = signed_in(app, other)

    assert browser.get(f"/sell/claims/{claim.id}").status_code == 404
    assert browser.send("/sell/orders", {}, to=f"/sell/claims/{claim.id}/accept").status_code == 404
    assert the_claim().status == "open"


def test_an_answer_after_the_claim_is_settled_changes_nothing(buyer_browser, seller_of, order):
    open_claim(buyer_browser, order)
    claim = the_claim()
    stale = seller_of.hidden_fields(f"/sell/claims/{claim.id}")
    seller_of.send(f"/sell/claims/{claim.id}", {}, to=f"/sell/claims/{claim.id}/accept")
    before = rows()

    response = seller_of.client.post(f"/sell/claims/{claim.id}/offer", data={**stale, "amount": "1"})

    assert response.status_code == 409 and "售后状态已经变化" in text_of(response)
    assert rows() == before and the_claim().offered_fen is None


# ---------------------------------------------------------------- escalation and the administrators


@pytest.fixture
def admin_of(app, build, session) -> Browser:
    admin = build.user("admin")
    session.commit()
    return signed_in(app, admin)


def test_a_contested_claim_is_decided_by_an_administrator_within_the_maximum(buyer_browser, seller_of, admin_of, order):
    open_claim(buyer_browser, order)
    claim = the_claim()
    contested = seller_of.send(f"/sell/claims/{claim.id}", {"note": "发货时是好的"}, to=f"/sell/claims/{claim.id}/contest",
                               files={"photos": photo()})
    assert contested.status_code == 302 and the_claim().status == "escalated"

    queue = text_of(admin_of.get("/admin/claims"))
    assert f'id="claim-{claim.id}"' in queue and 'class="claim-rate' in queue
    page = text_of(admin_of.get(f"/admin/claims/{claim.id}"))
    assert "¥25.00" in page and 'data-side="seller"' in page
    too_much = admin_of.send(f"/admin/claims/{claim.id}", {"amount": "25.01", "reason": "照片显示确有损坏"},
                             to=f"/admin/claims/{claim.id}/decide")
    assert too_much.status_code == 422 and re.search(r'id="amount-error">[^<]*¥25.00', text_of(too_much))
    assert the_claim().status == "escalated"
    decided = admin_of.send(f"/admin/claims/{claim.id}", {"amount": "3", "reason": "照片显示确有损坏"},
                            to=f"/admin/claims/{claim.id}/decide")

    assert decided.status_code == 302
    claim = the_claim()
    assert (claim.status, claim.granted_fen, claim.decision_reason) == ("accepted", 300, "照片显示确有损坏")
    assert "照片显示确有损坏" in text_of(buyer_browser.get(f"/claims/{claim.id}"))


def test_the_buyer_escalates_an_offer_and_a_decision_of_nothing_closes_it(buyer_browser, seller_of, admin_of, order):
    open_claim(buyer_browser, order)
    claim = the_claim()
    seller_of.send(f"/sell/claims/{claim.id}", {"amount": "1"}, to=f"/sell/claims/{claim.id}/offer")

    escalated = buyer_browser.send(f"/claims/{claim.id}", {"note": "太少了"}, to=f"/claims/{claim.id}/escalate")
    decided = admin_of.send(f"/admin/claims/{claim.id}", {"amount": "0", "reason": "证据不足"},
                            to=f"/admin/claims/{claim.id}/decide")

    assert escalated.status_code == decided.status_code == 302
    claim = the_claim()
    assert (claim.status, claim.granted_fen, claim.refund_id) == ("closed", 0, None)


def test_claim_pages_are_for_their_roles(buyer_browser, order):
    open_claim(buyer_browser, order)

    assert buyer_browser.get("/admin/claims").status_code == 403
    assert buyer_browser.get(f"/sell/claims/{the_claim().id}").status_code == 403


def test_the_review_page_shows_each_sellers_claim_rate(admin_of, build, session):
    product = build.product(status="pending_review")
    session.commit()

    page = text_of(admin_of.get("/admin/review"))

    assert f'data-seller="{product.seller_user_id}"' in page


def test_a_sellers_claim_rate_above_the_limit_is_among_the_flags(app, admin_of, buyer_browser, seller_of, order,
                                                                monkeypatch):
    monkeypatch.setitem(app.config, "CLAIM_RATE_MIN_LINES", 1)
    open_claim(buyer_browser, order)
    seller_of.send(f"/sell/claims/{the_claim().id}", {}, to=f"/sell/claims/{the_claim().id}/accept")

    page = text_of(admin_of.get("/admin/flags?preset=last_7_days"))

    assert 'data-kind="claim_rate"' in page
    assert f"/admin/users/{order.seller_user_id}" in page


# ---------------------------------------------------------------- the station partner


def test_the_partner_claims_for_a_villager_and_pays_the_cash_back(app, build, session):
    partner = build.user("partner")
    station = build.station(partner=partner)
    villager = build.user("buyer")
    order = build.delivered_order(villager, station=station, payment_method="cash_at_station", placed_by=partner,
                                  products=[build.product(price_fen=800)])
    session.commit()
    desk = signed_in(app, partner)
    parcels = text_of(desk.get(f"/station/{station.id}/parcels"))
    path = f"/station/{station.id}/parcels/{order.id}/lines/{order.lines[0].id}/claim"
    assert f'href="{path}"' in parcels

    opened = desk.send(path, {"reason": "short_weight", "description": "少了半斤", "amount": "4"})
    claim = the_claim()
    assert opened.status_code == 302 and (claim.buyer_user_id, claim.opened_by_user_id) == (villager.id, partner.id)
    signed_in(app, db.session.get(User, order.seller_user_id)).send(
        f"/sell/claims/{claim.id}", {}, to=f"/sell/claims/{claim.id}/accept")
    listed = text_of(desk.get(f"/station/{station.id}/claims"))
    assert f'id="claim-{claim.id}"' in listed and "¥4.00" in listed
    paid = desk.send(f"/station/{station.id}/claims/{claim.id}", {},
                     to=f"/station/{station.id}/claims/{claim.id}/cash-paid")

    assert paid.status_code == 302
    claim = the_claim()
    assert claim.status == "refunded"
    entry = db.session.scalars(select(StationCashEntry).where(StationCashEntry.kind == "refund")).one()
    assert entry.amount_fen == -400  # cash out of the drawer
    assert 'data-status="refunded"' in text_of(desk.get(f"/station/{station.id}/claims/{claim.id}"))


def test_another_stations_partner_cannot_open_the_claim_page(app, build, buyer_browser, order, session):
    open_claim(buyer_browser, order)
    partner = build.user("partner")
    station = build.station(partner=partner)
    session.commit()

    response = signed_in(app, partner).get(f"/station/{station.id}/claims/{the_claim().id}")

    assert response.status_code == 404


# ---------------------------------------------------------------- the page's figures are the API's


def test_the_claim_page_shows_the_apis_figures(build, client, buyer, buyer_browser, seller_of, order):
    open_claim(buyer_browser, order)
    claim = the_claim()
    seller_of.send(f"/sell/claims/{claim.id}", {"amount": "7.5"}, to=f"/sell/claims/{claim.id}/offer")

    api = client.get(f"/api/v1/claims/{claim.id}", headers={"Authorization": f"Bearer {build.token(buyer)}"}).json
    page = text_of(buyer_browser.get(f"/claims/{claim.id}"))

    def yuan(fen: int) -> str:
        return f"¥{fen // 100}.{fen % 100:02d}"

    assert re.search(r'id="amount-asked">' + re.escape(yuan(api["amount_asked_fen"])), page)
    assert re.search(r'id="amount-offered">' + re.escape(yuan(api["offered_fen"])), page)
    assert re.findall(r'<li data-kind="(\w+)">', page) == [event["kind"] for event in api["events"]]
    assert api["status"] in page


def test_a_contest_with_a_file_that_is_not_a_photo_is_refused_and_the_claim_stays_open(buyer_browser, seller_of,
                                                                                       order):
    open_claim(buyer_browser, order)
    claim = the_claim()
    before = rows()

    response = seller_of.send(f"/sell/claims/{claim.id}", {"note": "发货时是好的"}, to=f"/sell/claims/{claim.id}/contest",
                              files={"photos": photo(b"GIF89a but not really", "box.gif")})

    assert response.status_code == 422 and 'id="photos-error"' in text_of(response)
    assert rows() == before and the_claim().status == "open"


def test_the_seller_follows_answered_claims_from_the_orders_page(buyer_browser, seller_of, order):
    open_claim(buyer_browser, order)
    claim = the_claim()
    seller_of.send(f"/sell/claims/{claim.id}", {"amount": "2"}, to=f"/sell/claims/{claim.id}/offer")

    page = text_of(seller_of.get("/sell/orders"))

    assert 'id="claims-to-answer"' not in page
    assert re.search(rf'id="claims-answered">.*id="claim-{claim.id}".*data-status="offered"', page, flags=re.DOTALL)


def test_a_partner_of_two_stations_sees_each_stations_claims_under_it_alone(app, build, session):
    partner = build.user("partner")
    here, there = build.station(partner=partner), build.station(partner=partner)
    order = build.delivered_order(build.user("buyer"), station=here, payment_method="cash_at_station",
                                  placed_by=partner)
    claim = build.claim(order, opened_by=partner)
    session.commit()
    desk = signed_in(app, partner)

    assert f'id="claim-{claim.id}"' in text_of(desk.get(f"/station/{here.id}/claims"))
    assert f'id="claim-{claim.id}"' not in text_of(desk.get(f"/station/{there.id}/claims"))
    assert desk.get(f"/station/{here.id}/claims/{claim.id}").status_code == 200
    assert desk.get(f"/station/{there.id}/claims/{claim.id}").status_code == 404
    before = rows()
    assert desk.send(f"/station/{here.id}/claims/{claim.id}", {},
                     to=f"/station/{there.id}/claims/{claim.id}/escalate").status_code == 404
    assert rows() == before


def test_no_cash_is_paid_back_on_a_claim_without_a_refund(app, build, session):
    partner = build.user("partner")
    station = build.station(partner=partner)
    order = build.delivered_order(build.user("buyer"), station=station, payment_method="cash_at_station",
                                  placed_by=partner)
    claim = build.claim(order, opened_by=partner)
    session.commit()
    desk = signed_in(app, partner)
    before = rows()

    response = desk.send(f"/station/{station.id}/claims/{claim.id}", {},
                         to=f"/station/{station.id}/claims/{claim.id}/cash-paid")

    assert response.status_code == 409
    assert rows() == before and db.session.scalar(select(func.count()).select_from(StationCashEntry)) == 1


def test_a_claim_typed_when_the_sign_in_ran_out_comes_back_filled_after_logging_in(buyer_browser, buyer, order):
    fields = buyer_browser.hidden_fields(claim_path(order))
    expire_sign_in(buyer_browser.client, hours=24 * 30)

    sent = buyer_browser.client.post(claim_path(order), data={**fields, "reason": "damaged", "description": "箱子压扁了",
                                                              "amount": "3.5"})
    assert sent.status_code == 302 and "/login" in sent.location
    buyer_browser.log_in(buyer)
    page = text_of(buyer_browser.get(claim_path(order)))

    assert "箱子压扁了" in page and 'value="3.5"' in page and rows()[0] == 0
