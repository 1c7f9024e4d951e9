"""Claims on delivered order lines through the API: opening one, the seller's three answers, the
buyer's answer to an offer, the administrators' decision, the deadlines job, the refund that pays a
claim (card through Stripe, cash paid back at the station) and the timeline, then the reports and
the review flags that count it, and every refused input (4xx, stable code, nothing changed)."""
import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.catalog.media import sweep_unreferenced_files
from marketplace.claims import services as claims
from marketplace.claims.models import Claim, ClaimEvent, ClaimPhoto
from marketplace.common import storage
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.jobs import tasks
from marketplace.orders.models import Order
from marketplace.payments import refunds
from marketplace.payments.models import PaymentIntent, Refund, RefundLine
from marketplace.reports import rollup
from marketplace.reports.models import SalesLedgerEntry
from marketplace.stations.models import StationCashEntry
from tests.webhooks import WEBHOOK_PATH, signed_delivery

CLAIMS = "/api/v1/claims"
DAMAGED = {"reason": "damaged", "description": "三个苹果压坏了"}


def auth(build, user: User) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (180, 30, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def user(user_id: int) -> User:
    return db.session.get(User, user_id)


def open_claim(client, build, order: Order, *, opener: User | None = None, line_index: int = 0, **body):
    line = order.lines[line_index]
    payload = {"order_line_id": line.id, **DAMAGED, "amount_fen": line.line_total_fen, **body}
    return client.post(CLAIMS, json=payload, headers=auth(build, opener or user(order.buyer_user_id)))


def act(client, build, actor: User, claim_id: int, action: str, **body):
    return client.post(f"{CLAIMS}/{claim_id}/{action}", json=body, headers=auth(build, actor))


def claim_rows() -> tuple[int, int, int, int]:
    """Claims, their events, their photos, refunds: what a refused request must leave as it was."""
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Claim, ClaimEvent, ClaimPhoto, Refund))


def kinds(claim: dict) -> list[str]:
    return [event["kind"] for event in claim["events"]]


@pytest.fixture
def order(build) -> Order:
    """A card order of 2 jin of apples at 1250, paid and delivered just now."""
    return build.delivered_order(products=[build.product(price_fen=1250)], quantity=2)


@pytest.fixture
def seller(order) -> User:
    return user(order.seller_user_id)


@pytest.fixture
def buyer(order) -> User:
    return user(order.buyer_user_id)


@pytest.fixture
def admin(build) -> User:
    return build.user("admin")


# ---------------------------------------------------------------- opening and the seller's answers


def test_buyer_opens_a_claim_and_the_seller_has_until_the_deadline_to_answer(client, build, order, buyer):
    response = open_claim(client, build, order, amount_fen=1250)

    assert response.status_code == 201, response.json
    claim = response.json
    assert (claim["status"], claim["amount_asked_fen"], claim["reason"], claim["order_line_id"]) == (
        "open", 1250, "damaged", order.lines[0].id)
    assert (claim["buyer_user_id"], claim["opened_by_user_id"], claim["seller_user_id"]) == (
        buyer.id, buyer.id, order.seller_user_id)
    stored = db.session.get(Claim, claim["id"])
    assert stored.respond_by - stored.created_at == timedelta(hours=48)
    assert [(e["kind"], e["actor_user_id"], e["amount_fen"]) for e in claim["events"]] == [("opened", buyer.id, 1250)]
    assert client.get(f"{CLAIMS}/{claim['id']}", headers=auth(build, buyer)).json["status"] == "open"


def test_an_orders_claims_are_listed_for_its_parties_and_hidden_from_others(client, build, order, buyer, seller):
    opened = open_claim(client, build, order, amount_fen=1250).json
    path = f"/api/v1/orders/{order.id}/claims"

    for party in (buyer, seller, build.user("admin")):
        response = client.get(path, headers=auth(build, party))
        assert response.status_code == 200
        assert [(c["id"], c["status"], kinds(c)) for c in response.json] == [(opened["id"], "open", ["opened"])]
    stranger = client.get(path, headers=auth(build, build.user("buyer")))
    assert stranger.status_code == 404 and stranger.json["error"]["code"] == "order_not_found"
    other_order = build.delivered_order(products=[build.product(price_fen=800)], quantity=1)
    assert client.get(f"/api/v1/orders/{other_order.id}/claims", headers=auth(build, user(other_order.buyer_user_id))
                      ).json == []


def test_seller_accepting_refunds_the_amount_asked_from_that_one_line(client, build, order, seller):
    claim = build.claim(order, amount_fen=1000)

    response = act(client, build, seller, claim.id, "accept")

    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["granted_fen"]) == ("accepted", 1000)
    assert kinds(response.json) == ["opened", "accepted"]
    refund = db.session.get(Refund, response.json["refund_id"])
    # Stripe is not configured in this test: the refund waits, pending, for the reconciliation job.
    assert (refund.order_id, refund.amount_fen, refund.status, refund.method) == (order.id, 1000, "pending", "stripe")
    assert [(line.order_line_id, line.quantity, line.amount_fen) for line in refund.lines] == [
        (order.lines[0].id, 0, 1000)]


def test_offer_accepted_by_the_buyer_refunds_the_offer(client, build, order, seller, buyer):
    claim = build.claim(order, amount_fen=2500)

    offered = act(client, build, seller, claim.id, "offer", amount_fen=800, note="只坏了一个")
    accepted = act(client, build, buyer, claim.id, "accept-offer")

    assert offered.status_code == 200, offered.json
    assert (offered.json["status"], offered.json["offered_fen"]) == ("offered", 800)
    assert accepted.status_code == 200, accepted.json
    assert (accepted.json["status"], accepted.json["granted_fen"]) == ("accepted", 800)
    assert kinds(accepted.json) == ["opened", "offered", "offer_accepted"]
    assert db.session.get(Refund, accepted.json["refund_id"]).amount_fen == 800


def test_offer_escalated_by_the_buyer_is_decided_by_an_administrator_with_who_and_when(
        client, build, order, seller, buyer, admin):
    claim = build.claim(order, amount_fen=2500)
    act(client, build, seller, claim.id, "offer", amount_fen=500)

    escalated = act(client, build, buyer, claim.id, "escalate", note="不止一个坏了")
    queue = client.get(f"{CLAIMS}/escalated", headers=auth(build, admin))
    decided = act(client, build, admin, claim.id, "decision", amount_fen=1800, reason="照片显示三斤坏了")

    assert escalated.json["status"] == "escalated"
    assert [item["id"] for item in queue.json["items"]] == [claim.id]
    assert decided.status_code == 200, decided.json
    body = decided.json
    assert (body["status"], body["granted_fen"], body["decided_by_user_id"], body["decision_reason"]) == (
        "accepted", 1800, admin.id, "照片显示三斤坏了")
    assert body["decided_at"] is not None
    assert kinds(body) == ["opened", "offered", "escalated", "decided"]
    assert body["events"][-1]["actor_user_id"] == admin.id and body["events"][-1]["amount_fen"] == 1800
    assert client.get(f"{CLAIMS}/escalated", headers=auth(build, admin)).json["items"] == []


def test_contested_claim_reaches_the_administrators_at_once_and_a_decision_of_nothing_closes_it(
        client, build, order, seller, admin):
    claim = build.claim(order)

    contested = act(client, build, seller, claim.id, "contest", note="发货时完好，有视频")
    photo = client.post(f"{CLAIMS}/{claim.id}/photos", data={"file": (io.BytesIO(png()), "box.png")},
                        content_type="multipart/form-data", headers=auth(build, seller))
    decided = act(client, build, admin, claim.id, "decision", amount_fen=0, reason="物流签收时完好")

    assert (contested.json["status"], contested.json["seller_note"]) == ("escalated", "发货时完好，有视频")
    assert kinds(contested.json) == ["opened", "contested", "escalated"]
    assert photo.status_code == 201, photo.json
    assert [(p["side"], p["width"]) for p in photo.json["photos"]] == [("seller", 64)]
    assert storage.exists(db.session.get(ClaimPhoto, photo.json["photos"][0]["id"]).image_key)
    assert (decided.json["status"], decided.json["granted_fen"], decided.json["refund_id"]) == ("closed", 0, None)
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0


def test_buyer_opens_a_claim_with_photos_through_the_service(build, order, buyer):
    claim = claims.open_claim(order.lines[0].id, buyer, reason="rotten", description="烂了", amount_fen=500,
                              photos=[png(), png(800, 600)])

    assert [(photo.side, photo.width) for photo in claim.photos] == [("buyer", 64), ("buyer", 800)]


def test_the_media_sweep_keeps_the_photos_of_claims(build, order, buyer):
    claim = claims.open_claim(order.lines[0].id, buyer, reason="rotten", description="烂了", amount_fen=500,
                              photos=[png(97, 61)])
    keys = [claim.photos[0].image_key, claim.photos[0].thumbnail_key]

    sweep_unreferenced_files(now=utcnow() + timedelta(hours=25))

    assert all(storage.exists(key) for key in keys)


# ---------------------------------------------------------------- silence: the deadlines job


def test_the_job_accepts_a_claim_the_seller_left_unanswered_with_no_actor(build, clock, order):
    clock.at("2026-11-10T08:00:00Z")
    order.delivered_at = clock.now - timedelta(hours=1)
    db.session.commit()
    claim = build.claim(order, amount_fen=900)

    clock.at("2026-11-12T07:59:00Z")
    assert claims.accept_overdue_claims(now=clock.now) == 0
    clock.at("2026-11-12T08:00:01Z")
    assert tasks.run_once("accept_overdue_claims") == {"accept_overdue_claims": 1}

    db.session.expire_all()
    claim = db.session.get(Claim, claim.id)
    assert (claim.status, claim.granted_fen) == ("accepted", 900)
    assert [(e.kind, e.actor_user_id, e.amount_fen) for e in claim.events][-1] == ("auto_accepted", None, 900)
    assert db.session.get(Refund, claim.refund_id).amount_fen == 900


def test_an_offer_the_buyer_leaves_unanswered_stands_as_accepted(build, clock, order, seller):
    clock.at("2026-11-10T08:00:00Z")
    order.delivered_at = clock.now
    db.session.commit()
    claim = build.claim(order, amount_fen=2000)
    claims.offer_on_claim(claim.id, seller, amount_fen=600)

    clock.at("2026-11-12T08:00:01Z")
    assert claims.accept_overdue_claims() == 1

    claim = db.session.get(Claim, claim.id, populate_existing=True)
    assert (claim.status, claim.granted_fen) == ("accepted", 600)
    assert claim.events[-1].kind == "auto_accepted" and claim.events[-1].note.startswith("the buyer")


def test_automatic_acceptance_grants_only_what_is_left_after_an_administrators_refund(build, clock, order, admin):
    clock.at("2026-11-10T08:00:00Z")
    order.delivered_at = clock.now
    db.session.commit()
    claim = build.claim(order, amount_fen=2500)
    refunds.request_refund(order.id, admin, reason="先退一斤", lines=[{"order_line_id": order.lines[0].id, "quantity": 1}])

    clock.at("2026-11-12T09:00:00Z")
    assert claims.accept_overdue_claims() == 1

    claim = db.session.get(Claim, claim.id, populate_existing=True)
    assert (claim.status, claim.granted_fen) == ("accepted", 1250)
    assert "only 1250 fen was left" in claim.events[-1].note
    line_refunded = db.session.scalar(select(func.sum(RefundLine.amount_fen))
                                      .where(RefundLine.order_line_id == order.lines[0].id))
    assert line_refunded == order.lines[0].line_total_fen


# ---------------------------------------------------------------- the refund confirms the claim


def _charge_refunded(refund: Refund) -> dict:
    stripe_id = db.session.scalar(select(PaymentIntent.stripe_id).where(PaymentIntent.id == refund.payment_intent_id))
    stripe_refund = {"id": f"re_claim_{refund.id}", "object": "refund", "status": "succeeded",
                     "amount": refund.amount_fen, "payment_intent": stripe_id, "metadata": {"refund_id": str(refund.id)}}
    return {"id": f"evt_claim_refund_{refund.id}", "type": "charge.refunded",
            "data": {"object": {"object": "charge", "payment_intent": stripe_id, "refunds": {"data": [stripe_refund]}}}}


def test_a_card_claims_refund_confirmed_by_stripes_webhook_makes_the_claim_refunded(client, build, order, seller):
    claim = build.claim(order, amount_fen=1200)
    accepted = act(client, build, seller, claim.id, "accept").json
    refund = db.session.get(Refund, accepted["refund_id"])

    delivered = client.post(WEBHOOK_PATH, **signed_delivery(_charge_refunded(refund)))

    assert delivered.json == {"outcome": "applied"}
    body = client.get(f"{CLAIMS}/{claim.id}", headers=auth(build, seller)).json
    assert body["status"] == "refunded" and body["refunded_at"] is not None
    assert [(e["kind"], e["actor_user_id"], e["amount_fen"]) for e in body["events"]][-1] == ("refunded", None, 1200)
    again = client.post(WEBHOOK_PATH, **signed_delivery(_charge_refunded(refund)))
    assert again.json == {"outcome": "duplicate"}
    assert kinds(client.get(f"{CLAIMS}/{claim.id}", headers=auth(build, seller)).json).count("refunded") == 1


def test_a_card_claim_is_refunded_through_localstripe(client, build, stripe_configured):
    from tests.integration.test_stripe_payments import pay, place, stripe_refunds

    buyer = build.user("buyer")
    checkout = place(client, auth(build, buyer), build.product(price_fen=3000))
    intent_id = pay(client, stripe_configured, auth(build, buyer), checkout)
    order = db.session.get(Order, checkout["orders"][0]["id"])
    order.status, order.shipped_at, order.delivered_at = "delivered", order.paid_at, order.paid_at
    db.session.commit()
    claim = open_claim(client, build, order, amount_fen=700).json

    accepted = act(client, build, user(order.seller_user_id), claim["id"], "accept")

    assert accepted.status_code == 200, accepted.json
    assert accepted.json["status"] == "refunded"
    refund = db.session.get(Refund, accepted.json["refund_id"])
    assert [(r.id, r.amount, r.metadata["refund_id"]) for r in stripe_refunds(stripe_configured, intent_id)] == [
        (refund.stripe_refund_id, 700, str(refund.id))]


def test_a_cash_claims_refund_is_paid_back_by_the_partner_and_enters_the_station_ledger(client, build):
    partner = build.user("partner")
    station = build.station(partner=partner)
    order = build.delivered_order(station=station, payment_method="cash_at_station",
                                  products=[build.product(price_fen=990)], quantity=3)
    claim = build.claim(order, amount_fen=990)
    accepted = act(client, build, user(order.seller_user_id), claim.id, "accept").json
    assert accepted["status"] == "accepted"
    refund = db.session.get(Refund, accepted["refund_id"])
    assert (refund.method, refund.status) == ("cash", "pending")

    paid_back = client.post(f"/api/v1/refunds/{refund.id}/cash-paid", headers=auth(build, partner))

    assert paid_back.status_code == 200, paid_back.json
    body = client.get(f"{CLAIMS}/{claim.id}", headers=auth(build, partner)).json
    assert body["status"] == "refunded" and kinds(body)[-1] == "refunded"
    entries = db.session.execute(select(StationCashEntry.kind, StationCashEntry.amount_fen)
                                 .where(StationCashEntry.refund_id == refund.id)).all()
    assert [(kind, abs(fen)) for kind, fen in entries] == [("refund", 990)]


def test_the_partner_opens_a_claim_for_the_villager_they_ordered_for(client, build):
    partner = build.user("partner")
    station = build.station(partner=partner)
    villager = build.user("buyer")
    order = build.delivered_order(villager, station=station, payment_method="cash_at_station", placed_by=partner)

    response = open_claim(client, build, order, opener=partner, amount_fen=100)

    assert response.status_code == 201, response.json
    assert (response.json["buyer_user_id"], response.json["opened_by_user_id"]) == (villager.id, partner.id)
    mine = client.get(CLAIMS, headers=auth(build, partner)).json
    assert [item["id"] for item in mine["items"]] == [response.json["id"]]


# ---------------------------------------------------------------- reports count the claim's refund


def test_report_figures_drop_by_exactly_the_refunded_amount_of_the_claimed_line(client, build, clock):
    admin_headers = build.headers("admin")
    build.county("652927", is_national_poverty_county=True)
    partner = build.user("partner")
    station = build.station(partner=partner)
    seller = build.user("seller")
    apples = build.product(seller, price_fen=1250, category="fruit")
    walnuts = build.product(seller, price_fen=4800, category="nuts")
    clock.at("2026-11-04T03:00:00Z")
    order = build.delivered_order(station=station, payment_method="cash_at_station", products=[apples, walnuts],
                                  delivered_at=clock.now)
    rollup.roll_up_all()
    november = {"from": "2026-11-01", "to": "2026-11-11"}
    before = client.get("/api/v1/reports/summary", query_string=november, headers=admin_headers).json["figures"]
    categories_before = {row["category"]: row["net_fen"] for row in client.get(
        "/api/v1/reports/categories", query_string=november, headers=admin_headers).json["items"]}

    clock.at("2026-11-05T03:00:00Z")
    apple_line = next(line for line in order.lines if line.product_id == apples.id)
    claim = claims.open_claim(apple_line.id, user(order.buyer_user_id), reason="rotten", description="烂了",
                              amount_fen=1037)
    claim = claims.accept_claim(claim.id, seller)
    client.post(f"/api/v1/refunds/{claim.refund_id}/cash-paid", headers=auth(build, partner))
    rollup.roll_up_all()

    after = client.get("/api/v1/reports/summary", query_string=november, headers=admin_headers).json["figures"]
    categories_after = {row["category"]: row["net_fen"] for row in client.get(
        "/api/v1/reports/categories", query_string=november, headers=admin_headers).json["items"]}
    assert after["net_fen"] == before["net_fen"] - 1037
    assert after["refunded_fen"] == before["refunded_fen"] + 1037
    assert after["poverty_net_fen"] == before["poverty_net_fen"] - 1037
    assert after["gross_fen"] == before["gross_fen"]
    assert categories_after == {**categories_before, "fruit": categories_before["fruit"] - 1037}
    ledger_rows = db.session.execute(select(SalesLedgerEntry.order_line_id, SalesLedgerEntry.amount_fen,
                                            SalesLedgerEntry.units)
                                     .where(SalesLedgerEntry.kind == "refund")).all()
    assert ledger_rows == [(apple_line.id, -1037, 0)]


# ---------------------------------------------------------------- refused input changes nothing


def test_a_claim_after_the_window_is_refused(client, build, clock):
    clock.at("2026-11-10T08:00:00Z")
    order = build.delivered_order(delivered_at=clock.now - timedelta(hours=48, seconds=1))
    rows = claim_rows()

    response = open_claim(client, build, order)

    assert response.status_code == 409
    assert response.json["error"]["code"] == "claim_window_closed"
    assert claim_rows() == rows


def test_a_claim_on_a_line_not_delivered_is_refused(client, build):
    checkout = build.pay(build.checkout(build.user("buyer"), [build.product()]))
    order = db.session.get(Order, checkout.orders[0].id)
    rows = claim_rows()

    response = open_claim(client, build, order)

    assert response.status_code == 409
    assert response.json["error"]["code"] == "line_not_delivered"
    assert claim_rows() == rows


def test_not_received_may_be_claimed_only_some_days_after_shipping(client, build, clock):
    clock.at("2026-11-10T08:00:00Z")
    checkout = build.pay(build.checkout(build.user("buyer"), [build.product()]))
    order = db.session.get(Order, checkout.orders[0].id)
    order.status, order.shipped_at = "shipped", clock.now - timedelta(days=6, hours=23)
    db.session.commit()

    early = open_claim(client, build, order, reason="not_received", amount_fen=100)
    order.shipped_at = clock.now - timedelta(days=7)
    db.session.commit()
    on_time = open_claim(client, build, order, reason="not_received", amount_fen=100)

    assert early.status_code == 409 and early.json["error"]["code"] == "not_received_too_early"
    assert on_time.status_code == 201, on_time.json


def test_someone_else_cannot_claim_for_the_line(client, build, order):
    rows = claim_rows()

    stranger = open_claim(client, build, order, opener=build.user("buyer"))
    other_partner = open_claim(client, build, order, opener=build.user("partner"))

    assert stranger.status_code == 404 and stranger.json["error"]["code"] == "order_line_not_found"
    assert other_partner.status_code == 404 and other_partner.json["error"]["code"] == "order_line_not_found"
    assert claim_rows() == rows


def test_the_orders_seller_who_is_also_a_buyer_cannot_claim_for_it(client, build):
    seller = build.user("buyer", "seller")
    order = build.delivered_order(products=[build.product(seller)])
    rows = claim_rows()

    response = open_claim(client, build, order, opener=seller)

    assert response.status_code == 403
    assert response.json["error"]["code"] == "not_claimant"
    assert claim_rows() == rows


def test_a_claim_for_more_than_can_still_be_refunded_is_refused(client, build, order, admin):
    refunds.request_refund(order.id, admin, reason="先退一斤", lines=[{"order_line_id": order.lines[0].id, "quantity": 1}])
    rows = claim_rows()

    response = open_claim(client, build, order, amount_fen=1251)

    assert response.status_code == 422
    assert response.json["error"]["code"] == "claim_exceeds_refundable"
    assert response.json["error"]["details"]["refundable_fen"] == 1250
    assert claim_rows() == rows


def test_a_second_open_claim_on_a_line_is_refused(client, build, order):
    build.claim(order, amount_fen=100)
    rows = claim_rows()

    response = open_claim(client, build, order, amount_fen=100)

    assert response.status_code == 409
    assert response.json["error"]["code"] == "claim_already_open"
    assert claim_rows() == rows


def test_photos_that_are_not_images_are_refused(client, build, order, buyer):
    claim = build.claim(order, amount_fen=100)
    rows = claim_rows()

    response = client.post(f"{CLAIMS}/{claim.id}/photos", data={"file": (io.BytesIO(b"%PDF-1.4 not a photo"), "a.pdf")},
                           content_type="multipart/form-data", headers=auth(build, buyer))

    assert response.status_code == 422
    assert response.json["error"]["code"] == "not_an_image"
    assert claim_rows() == rows


def test_a_fifth_photo_from_one_side_is_refused(client, build, order, buyer):
    claim = claims.open_claim(order.lines[0].id, buyer, reason="damaged", description="坏了", amount_fen=100,
                              photos=[png()] * 4)
    rows = claim_rows()

    response = client.post(f"{CLAIMS}/{claim.id}/photos", data={"file": (io.BytesIO(png()), "5.png")},
                           content_type="multipart/form-data", headers=auth(build, buyer))

    assert response.status_code == 409
    assert response.json["error"]["code"] == "too_many_claim_photos"
    assert claim_rows() == rows


def test_another_seller_cannot_answer_the_claim(client, build, order):
    claim = build.claim(order, amount_fen=100)
    rows = claim_rows()

    response = act(client, build, build.user("seller"), claim.id, "accept")

    assert response.status_code == 404
    assert response.json["error"]["code"] == "claim_not_found"
    assert claim_rows() == rows
    assert db.session.get(Claim, claim.id).status == "open"


def test_an_answer_after_the_claim_is_closed_is_refused(client, build, order, seller):
    claim = build.claim(order, amount_fen=100)
    assert act(client, build, seller, claim.id, "accept").status_code == 200
    rows = claim_rows()

    for action, body in (("accept", {}), ("offer", {"amount_fen": 50}), ("contest", {"note": "不同意"})):
        response = act(client, build, seller, claim.id, action, **body)
        assert response.status_code == 409, action
        assert response.json["error"]["code"] == "illegal_claim_move"
    assert claim_rows() == rows


def test_an_offer_must_be_less_than_asked(client, build, order, seller):
    claim = build.claim(order, amount_fen=1000)
    rows = claim_rows()

    response = act(client, build, seller, claim.id, "offer", amount_fen=1000)

    assert response.status_code == 422
    assert response.json["error"]["code"] == "offer_not_smaller"
    assert claim_rows() == rows


def test_an_administrator_cannot_decide_more_than_the_maximum(client, build, order, seller, admin):
    claim = build.claim(order, amount_fen=1000)
    act(client, build, seller, claim.id, "contest", note="不同意")
    rows = claim_rows()

    response = act(client, build, admin, claim.id, "decision", amount_fen=2501, reason="全退")

    assert response.status_code == 422
    assert response.json["error"]["code"] == "decision_exceeds_maximum"
    assert response.json["error"]["details"]["maximum_fen"] == 2500
    assert claim_rows() == rows
    assert db.session.get(Claim, claim.id).status == "escalated"


def test_accepting_when_less_is_left_than_asked_is_a_conflict(client, build, order, seller, admin):
    claim = build.claim(order, amount_fen=2000)
    refunds.request_refund(order.id, admin, reason="先退一斤", lines=[{"order_line_id": order.lines[0].id, "quantity": 1}])
    rows = claim_rows()

    response = act(client, build, seller, claim.id, "accept")

    assert response.status_code == 409
    assert response.json["error"]["code"] == "not_enough_left_to_refund"
    assert response.json["error"]["details"]["refundable_fen"] == 1250
    assert claim_rows() == rows


@pytest.mark.parametrize("body", [
    {"reason": "lost"}, {"amount_fen": 0}, {"amount_fen": -5}, {"amount_fen": 12.5}, {"amount_fen": "100"},
    {"description": "   "}, {"description": ""}, {"order_line_id": 0},
], ids=repr)
def test_schema_errors_are_refused(client, build, order, body):
    rows = claim_rows()
    response = open_claim(client, build, order, **body)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert claim_rows() == rows


# ---------------------------------------------------------------- who sees what


def test_a_claim_is_seen_by_its_parties_only(client, build, order, seller, buyer, admin):
    claim = build.claim(order, amount_fen=100)
    url = f"{CLAIMS}/{claim.id}"

    assert client.get(url, headers=auth(build, buyer)).status_code == 200
    assert client.get(url, headers=auth(build, seller)).status_code == 200
    assert client.get(url, headers=auth(build, admin)).status_code == 200
    assert client.get(url, headers=build.headers("buyer")).status_code == 404
    assert client.get(url, headers=build.headers("seller")).status_code == 404
    assert [item["id"] for item in client.get("/api/v1/seller/claims", headers=auth(build, seller)).json["items"]] == [
        claim.id]
    assert client.get("/api/v1/seller/claims", headers=build.headers("seller")).json["items"] == []
    assert client.get("/api/v1/seller/claims", query_string={"status": "refunded"},
                      headers=auth(build, seller)).json["items"] == []


def test_only_the_claimant_answers_an_offer(client, build, order, seller):
    claim = build.claim(order, amount_fen=1000)
    act(client, build, seller, claim.id, "offer", amount_fen=500)
    rows = claim_rows()

    stranger = act(client, build, build.user("buyer"), claim.id, "accept-offer")
    escalating_stranger = act(client, build, build.user("buyer"), claim.id, "escalate")

    assert stranger.status_code == 404 and stranger.json["error"]["code"] == "claim_not_found"
    assert escalating_stranger.status_code == 404
    assert claim_rows() == rows
    assert db.session.get(Claim, claim.id).status == "offered"


# ---------------------------------------------------------------- review: claim rates and flags


def _seller_with_claims(build, *, lines: int, accepted: int, rejected: int = 0) -> User:
    """A seller with ``lines`` delivered lines (one order each), ``accepted`` claims on them accepted
    and ``rejected`` decided at nothing."""
    seller = build.user("seller")
    product = build.product(seller, price_fen=1000)
    orders = [build.delivered_order(products=[product]) for _ in range(lines)]
    admin = build.user("admin")
    for order in orders[:accepted]:
        claims.accept_claim(build.claim(order, amount_fen=300).id, seller)
    for order in orders[accepted:accepted + rejected]:
        claim = claims.contest_claim(build.claim(order, amount_fen=300).id, seller, note="不同意")
        claims.decide_claim(claim.id, admin, amount_fen=0, reason="证据不足")
    return seller


def test_a_sellers_claim_rate_counts_claims_settled_with_money_per_line_delivered(client, build):
    admin = build.headers("admin")
    above = _seller_with_claims(build, lines=10, accepted=2, rejected=1)
    at_the_limit = _seller_with_claims(build, lines=10, accepted=1)

    rate = client.get(f"/api/v1/review/sellers/{above.id}/claim-rate", headers=admin).json
    limit = client.get(f"/api/v1/review/sellers/{at_the_limit.id}/claim-rate", headers=admin).json
    flags = client.get("/api/v1/review/flags", headers=admin).json["items"]

    assert {key: rate[key] for key in ("claims_accepted", "lines_delivered", "granted_fen", "rate_percent",
                                       "flag_percent", "flagged", "days")} == {
        "claims_accepted": 2, "lines_delivered": 10, "granted_fen": 600, "rate_percent": 20.0, "flag_percent": 10,
        "flagged": True, "days": 90}
    assert (limit["rate_percent"], limit["flagged"]) == (10.0, False)
    assert [(f["seller_user_id"], f["amount_fen"]) for f in flags if f["kind"] == "claim_rate"] == [(above.id, 600)]
    assert claims.seller_claim_rate(above.id).claims_accepted == 2


def test_few_lines_are_no_pattern_and_raise_no_claim_rate_flag(client, build):
    seller = _seller_with_claims(build, lines=3, accepted=3)

    rate = client.get(f"/api/v1/review/sellers/{seller.id}/claim-rate", headers=build.headers("admin")).json
    flags = client.get("/api/v1/review/flags", headers=build.headers("admin")).json["items"]

    assert (rate["rate_percent"], rate["flagged"]) == (100.0, False)
    assert [f for f in flags if f["kind"] == "claim_rate"] == []


def test_a_buyer_claiming_against_many_sellers_is_flagged(client, build):
    buyer = build.user("buyer", county="652927")
    sellers = [build.user("seller") for _ in range(3)]
    for index in range(5):
        build.claim(build.delivered_order(buyer, [build.product(sellers[index % 3])]), amount_fen=100)
    occasional = build.user("buyer")
    for seller in sellers[:2]:
        build.claim(build.delivered_order(occasional, [build.product(seller)]), amount_fen=100)

    flags = client.get("/api/v1/review/flags", headers=build.headers("admin")).json["items"]

    many = [f for f in flags if f["kind"] == "many_claims"]
    assert [(f["buyer_user_id"], f["county_adcode"]) for f in many] == [(buyer.id, "652927")]
    assert "5 claims against 3 sellers" in many[0]["detail"]
