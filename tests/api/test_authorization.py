"""Who may call what: every endpoint in the OpenAPI document, called by every kind of caller.

The table below is the access policy. A new endpoint without a row fails
``test_every_endpoint_in_the_spec_has_a_row``; a row whose policy disagrees with the roles the
spec documents fails ``test_documented_roles_match_the_table``.
"""
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

import pytest
from PIL import Image

from marketplace.catalog.models import ProductImage
from marketplace.claims.models import Claim
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders.models import DeliveryAddress
from marketplace.payments import settlement
from marketplace.payments.models import Refund
from marketplace.reports import ledger, review
from marketplace.stations.models import StationCashEntry
from tests.builders import PASSWORD
from tests.webhooks import signed_delivery

PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed_in"  # any valid bearer token
ADMIN = ("admin",)
SELLER = ("seller",)
SELLER_OR_ADMIN = ("seller", "admin")  # the listing's or order's own seller, or an administrator
BUYER = ("buyer",)  # the buyer's own cart and addresses
BUYER_OR_PARTNER = ("buyer", "partner")
BUYER_PARTNER_OR_ADMIN = ("buyer", "partner", "admin")  # the order's buyer (a partner buys for villagers)
PARTNER_OR_ADMIN = ("partner", "admin")  # the partner of the order's station
PARTNER = ("partner",)  # the partner of the checkout's or refund's station
SELLER_OR_PARTNER = ("seller", "partner")  # the listing's seller, or the partner who listed it for a villager
ADMIN_OR_OFFICIAL = ("admin", "official")  # officials within their report scope (here: the county of the records)

CALLERS = ["anonymous", "buyer", "seller", "partner", "admin", "official"]


def _spec_roles(who):
    return {PUBLIC: None, SIGNED_IN: ["any"]}.get(who, list(who)) if isinstance(who, str) else list(who)

COUNTY_CSV = "adcode,province,prefecture,county\n652927,新疆维吾尔自治区,阿克苏地区,乌什县\n".encode()


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    who: str | tuple[str, ...]
    request: Callable[[SimpleNamespace], dict] = field(default=lambda world: {})
    product_status: str = "active"  # the state {product_id} must be in for the call to succeed
    order_status: str = "paid"  # the state {order_id} must be in
    delivery: str = "station"  # how {order_id} is delivered
    payment_method: str = "card"  # how {checkout_id} is paid
    payment_started: bool = True  # {checkout_id} already has a PaymentIntent
    needs_stripe: bool = False  # the call reaches Stripe (a localstripe server)
    sale_excluded: bool = False  # {order_id}'s sale is excluded from the official figures
    claim_status: str | None = None  # {claim_id}: a claim on {order_id}'s line (then delivered) in this state
    # What a signed-in caller with no part in the records gets (an official here): for records
    # only their parties may see, 404, so that a stranger does not learn they exist.
    stranger_status: int | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("POST", "/api/v1/auth/register", PUBLIC,
             lambda w: {"json": {"phone": "13712345678", "display_name": "新用户", "password": "s3cret-pass"}}),
    Endpoint("POST", "/api/v1/auth/login", PUBLIC,
             lambda w: {"json": {"identifier": w.target_user.phone, "password": PASSWORD}}),
    Endpoint("POST", "/api/v1/auth/logout", SIGNED_IN),
    Endpoint("GET", "/api/v1/me", SIGNED_IN),
    Endpoint("GET", "/api/v1/users", ADMIN),
    Endpoint("GET", "/api/v1/users/{user_id}", ADMIN),
    Endpoint("PATCH", "/api/v1/users/{user_id}", ADMIN, lambda w: {"json": {"is_active": True}}),
    Endpoint("GET", "/api/v1/counties", PUBLIC),
    Endpoint("GET", "/api/v1/counties/{adcode}", PUBLIC),
    Endpoint("GET", "/api/v1/provinces", PUBLIC),
    Endpoint("POST", "/api/v1/counties/imports", ADMIN,
             lambda w: {"data": {"kind": "all", "file": (io.BytesIO(COUNTY_CSV), "counties.csv")},
                        "content_type": "multipart/form-data"}),
    Endpoint("GET", "/api/v1/counties/{adcode}/villages", PUBLIC),
    Endpoint("POST", "/api/v1/counties/{adcode}/villages", ADMIN, lambda w: {"json": {"name": "新建村"}}),
    Endpoint("GET", "/api/v1/stations", PUBLIC),
    Endpoint("POST", "/api/v1/stations", ADMIN,
             lambda w: {"json": {"name": "新建村服务站", "village_id": w.village.id, "partner_user_id": w.partner.id,
                                 "address": "村委会旁", "phone": "0997-1234567"}}),
    Endpoint("GET", "/api/v1/stations/{station_id}", PUBLIC),
    Endpoint("PATCH", "/api/v1/stations/{station_id}", ADMIN, lambda w: {"json": {"address": "村小学对面"}}),
    Endpoint("GET", "/api/v1/categories", PUBLIC),
    Endpoint("GET", "/api/v1/products", PUBLIC),
    Endpoint("POST", "/api/v1/products", SELLER,
             lambda w: {"json": {"title": "洛川苹果", "category": "fruit", "unit": "jin", "price_fen": 990}}),
    Endpoint("GET", "/api/v1/products/{product_id}", PUBLIC),
    Endpoint("PATCH", "/api/v1/products/{product_id}", SELLER_OR_ADMIN,
             lambda w: {"json": {"price_fen": 1300}, "headers": {"If-Match": w.product.etag}}),
    Endpoint("DELETE", "/api/v1/products/{product_id}", SELLER_OR_ADMIN, product_status="draft"),
    Endpoint("POST", "/api/v1/products/{product_id}/submit", SELLER_OR_ADMIN, product_status="draft"),
    Endpoint("POST", "/api/v1/products/{product_id}/pause", SELLER_OR_ADMIN),
    Endpoint("POST", "/api/v1/products/{product_id}/resume", SELLER_OR_ADMIN, product_status="paused"),
    Endpoint("POST", "/api/v1/products/{product_id}/approve", ADMIN, product_status="pending_review"),
    Endpoint("POST", "/api/v1/products/{product_id}/reject", ADMIN, lambda w: {"json": {"reason": "照片不清楚"}},
             product_status="pending_review"),
    Endpoint("GET", "/api/v1/products/{product_id}/reviews", SELLER_OR_ADMIN),
    Endpoint("POST", "/api/v1/products/{product_id}/stock-adjustments", SELLER_OR_ADMIN, lambda w: {"json": {"delta": 5}}),
    Endpoint("POST", "/api/v1/products/{product_id}/images", SELLER_OR_ADMIN,
             lambda w: {"data": {"file": (io.BytesIO(PHOTO), "apple.png")}, "content_type": "multipart/form-data"}),
    Endpoint("DELETE", "/api/v1/products/{product_id}/images/{image_id}", SELLER_OR_ADMIN),
    Endpoint("GET", "/api/v1/seller/products", SELLER),
    Endpoint("GET", "/api/v1/review/products", ADMIN),
    Endpoint("POST", "/api/v1/checkouts", BUYER_OR_PARTNER,
             lambda w: {"json": {"lines": [{"product_id": w.for_sale.id, "quantity": 1}],
                                 "delivery": {"station_id": w.station.id}, "payment_method": "cash_at_station"},
                        "headers": {"Idempotency-Key": "authz-checkout-1"}}),
    Endpoint("GET", "/api/v1/checkouts/{checkout_id}", BUYER_PARTNER_OR_ADMIN),
    Endpoint("GET", "/api/v1/trace/{token}", PUBLIC),
    Endpoint("GET", "/api/v1/me/cart", BUYER),
    Endpoint("PUT", "/api/v1/me/cart/lines/{product_id}", BUYER, lambda w: {"json": {"quantity": 2}}),
    Endpoint("DELETE", "/api/v1/me/cart/lines/{product_id}", BUYER),
    Endpoint("GET", "/api/v1/me/addresses", BUYER),
    Endpoint("POST", "/api/v1/me/addresses", BUYER,
             lambda w: {"json": {"recipient": "张三", "phone": "13800138000", "county_adcode": w.county,
                                 "detail": "人民路 1 号"}}),
    Endpoint("DELETE", "/api/v1/me/addresses/{address_id}", BUYER),
    Endpoint("GET", "/api/v1/orders", SIGNED_IN),
    Endpoint("GET", "/api/v1/orders/{order_id}", SIGNED_IN, stranger_status=404),
    Endpoint("POST", "/api/v1/orders/{order_id}/ship", SELLER_OR_ADMIN,
             lambda w: {"json": {"carrier": "顺丰", "tracking_number": "SF1234567"}}),
    Endpoint("POST", "/api/v1/orders/{order_id}/arrive", PARTNER_OR_ADMIN, order_status="shipped"),
    Endpoint("POST", "/api/v1/orders/{order_id}/hand-over", PARTNER_OR_ADMIN, order_status="at_station"),
    Endpoint("POST", "/api/v1/orders/{order_id}/confirm-receipt", BUYER_PARTNER_OR_ADMIN, order_status="shipped",
             delivery="address"),
    Endpoint("POST", "/api/v1/orders/{order_id}/cancel", BUYER_PARTNER_OR_ADMIN, order_status="pending_payment"),
    Endpoint("POST", "/api/v1/orders/{order_id}/complete", ADMIN, order_status="delivered"),
    Endpoint("POST", "/api/v1/checkouts/{checkout_id}/payment", BUYER_OR_PARTNER, order_status="pending_payment",
             payment_started=False, needs_stripe=True),
    Endpoint("GET", "/api/v1/checkouts/{checkout_id}/payment", BUYER_PARTNER_OR_ADMIN),
    Endpoint("POST", "/api/v1/payments/stripe/webhook", PUBLIC,
             lambda w: signed_delivery({"id": "evt_authz", "type": "customer.created", "data": {"object": {}}})),
    Endpoint("GET", "/api/v1/payments/stripe/events", ADMIN),
    Endpoint("GET", "/api/v1/orders/{order_id}/refunds", SIGNED_IN, stranger_status=404),
    Endpoint("POST", "/api/v1/orders/{order_id}/refunds", SELLER_OR_ADMIN,
             lambda w: {"json": {"reason": "少发了一斤", "amount_fen": 100}}),
    Endpoint("POST", "/api/v1/refunds/{refund_id}/cash-paid", PARTNER, payment_method="cash_at_station"),
    Endpoint("POST", "/api/v1/checkouts/{checkout_id}/cash-collection", PARTNER,
             lambda w: {"json": {"amount_fen": w.checkout.grand_total_fen}},
             order_status="pending_payment", payment_method="cash_at_station"),
    Endpoint("GET", "/api/v1/stations/{station_id}/cash-ledger", PARTNER_OR_ADMIN),
    Endpoint("POST", "/api/v1/stations/{station_id}/remittances", ADMIN,
             lambda w: {"json": {"amount_fen": 500, "reference": "银行回单 0001"}}),
    Endpoint("GET", "/api/v1/sellers/{seller_user_id}/ledger", SELLER_OR_ADMIN),
    Endpoint("POST", "/api/v1/sellers/{seller_user_id}/payouts", ADMIN,
             lambda w: {"json": {"amount_fen": 100, "reference": "转账 20261123-01"}}),
    Endpoint("GET", "/api/v1/reports/summary", ADMIN_OR_OFFICIAL),
    Endpoint("GET", "/api/v1/reports/counties", ADMIN_OR_OFFICIAL),
    Endpoint("GET", "/api/v1/reports/provinces", ADMIN_OR_OFFICIAL),
    Endpoint("GET", "/api/v1/reports/daily", ADMIN_OR_OFFICIAL),
    Endpoint("GET", "/api/v1/reports/categories", ADMIN_OR_OFFICIAL),
    Endpoint("GET", "/api/v1/reports/counties/{adcode}/top-products", ADMIN_OR_OFFICIAL),
    Endpoint("GET", "/api/v1/reports/{report}.csv", ADMIN_OR_OFFICIAL),
    Endpoint("GET", "/api/v1/reports/campaigns", ADMIN_OR_OFFICIAL),
    Endpoint("GET", "/api/v1/reports/campaigns/{campaign_id}", ADMIN_OR_OFFICIAL),
    Endpoint("GET", "/api/v1/review/flags", ADMIN),
    Endpoint("POST", "/api/v1/review/orders/{order_id}/exclusion", ADMIN, lambda w: {"json": {"reason": "自买自卖"}}),
    Endpoint("POST", "/api/v1/review/orders/{order_id}/inclusion", ADMIN, lambda w: {"json": {"reason": "核实无误"}},
             sale_excluded=True),
    Endpoint("GET", "/api/v1/review/exclusions", ADMIN),
    Endpoint("GET", "/api/v1/review/sellers/{seller_user_id}/household", ADMIN),
    Endpoint("POST", "/api/v1/review/sellers/{seller_user_id}/household", ADMIN,
             lambda w: {"json": {"status": "verified", "evidence_note": "建档立卡户 6529270001"}}),
    Endpoint("GET", "/api/v1/review/audit-log", ADMIN),
    Endpoint("GET", "/api/v1/review/sellers/{seller_user_id}/claim-rate", ADMIN),
    Endpoint("POST", "/api/v1/claims", BUYER_OR_PARTNER,
             lambda w: {"json": {"order_line_id": w.order.lines[0].id, "reason": "damaged", "description": "压坏了",
                                 "amount_fen": 100}}, order_status="delivered"),
    Endpoint("GET", "/api/v1/claims", BUYER_OR_PARTNER),
    Endpoint("GET", "/api/v1/claims/escalated", ADMIN),
    Endpoint("GET", "/api/v1/claims/{claim_id}", SIGNED_IN, claim_status="open", stranger_status=404),
    Endpoint("GET", "/api/v1/orders/{order_id}/claims", SIGNED_IN, claim_status="open", stranger_status=404),
    Endpoint("POST", "/api/v1/claims/{claim_id}/photos", ("buyer", "partner", "seller"),
             lambda w: {"data": {"file": (io.BytesIO(PHOTO), "apple.png")}, "content_type": "multipart/form-data"},
             claim_status="open"),
    Endpoint("POST", "/api/v1/claims/{claim_id}/accept", SELLER, claim_status="open"),
    Endpoint("POST", "/api/v1/claims/{claim_id}/offer", SELLER, lambda w: {"json": {"amount_fen": 50}},
             claim_status="open"),
    Endpoint("POST", "/api/v1/claims/{claim_id}/contest", SELLER, lambda w: {"json": {"note": "发货时完好"}},
             claim_status="open"),
    Endpoint("POST", "/api/v1/claims/{claim_id}/accept-offer", BUYER_OR_PARTNER, claim_status="offered"),
    Endpoint("POST", "/api/v1/claims/{claim_id}/escalate", BUYER_OR_PARTNER, lambda w: {"json": {}},
             claim_status="offered"),
    Endpoint("POST", "/api/v1/claims/{claim_id}/decision", ADMIN,
             lambda w: {"json": {"amount_fen": 0, "reason": "证据不足"}}, claim_status="escalated"),
    Endpoint("GET", "/api/v1/seller/claims", SELLER),
    Endpoint("GET", "/api/v1/campaigns", PUBLIC),
    Endpoint("POST", "/api/v1/campaigns", ADMIN, lambda w: {"json": {
        "name_zh": "双十一专场", "name_en": "Double 11", "starts_at": "2027-11-11T20:00:00",
        "ends_at": "2027-11-12T00:00:00"}}),
    Endpoint("GET", "/api/v1/admin/campaigns", ADMIN),
    Endpoint("GET", "/api/v1/campaigns/{campaign_id}", ADMIN),
    Endpoint("PATCH", "/api/v1/campaigns/{campaign_id}", ADMIN, lambda w: {"json": {"name_en": "Double 12"}}),
    Endpoint("POST", "/api/v1/campaigns/{campaign_id}/cancel", ADMIN),
    Endpoint("GET", "/api/v1/campaigns/{campaign_id}/items", ADMIN),
    Endpoint("POST", "/api/v1/campaigns/{campaign_id}/items", ADMIN, lambda w: {"json": {
        "product_id": w.proposable.id, "campaign_price_fen": 100, "stock_cap": 1, "per_buyer_limit": 1}}),
    Endpoint("POST", "/api/v1/campaigns/{campaign_id}/proposals", SELLER_OR_PARTNER, lambda w: {"json": {
        "product_id": w.proposable.id, "campaign_price_fen": 100, "stock_cap": 1, "per_buyer_limit": 1}}),
    Endpoint("PATCH", "/api/v1/campaign-items/{item_id}", ADMIN, lambda w: {"json": {"per_buyer_limit": 3}}),
    Endpoint("POST", "/api/v1/campaign-items/{item_id}/approve", ADMIN),
    Endpoint("POST", "/api/v1/campaign-items/{item_id}/reject", ADMIN, lambda w: {"json": {"reason": "价格偏高"}}),
    Endpoint("POST", "/api/v1/campaign-items/{item_id}/remove", ADMIN),
    Endpoint("POST", "/api/v1/campaign-items/{item_id}/withdraw", SELLER_OR_PARTNER),
    Endpoint("GET", "/api/v1/seller/campaign-items", SELLER_OR_PARTNER),
]
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 30, 40)).save(buffer, "PNG")
    return buffer.getvalue()


PHOTO = _photo()


def _world(build, endpoint: Endpoint, caller_user) -> SimpleNamespace:
    """Existing records the paths and bodies refer to. The caller plays its part: a seller caller
    owns the listing and sells the order, a partner caller runs the station and (like a buyer
    caller) bought the order."""
    def caller_if(*roles):
        return caller_user if caller_user is not None and caller_user.has_role(*roles) else None

    village = build.village("652927")
    partner = caller_if("partner") or build.user("partner")
    station = build.station(partner=partner, village=village)
    owner = caller_if("seller") or build.user("seller")
    product = build.product(seller=owner, status=endpoint.product_status)
    image = ProductImage(product=product, position=1, image_key="aa/bb/x.jpg", thumbnail_key="aa/bb/y.jpg",
                         width=64, height=48)
    db.session.add(image)
    for_sale = build.product(seller=owner)
    buyer = caller_if("buyer", "partner") or build.user("buyer")
    checkout = build.checkout(buyer, [for_sale], station=station if endpoint.delivery == "station" else None,
                              status=endpoint.order_status, payment_method=endpoint.payment_method)
    order = checkout.orders[0]
    if endpoint.claim_status is not None or order.status == "delivered":
        order.status = "delivered"
        order.shipped_at = order.delivered_at = utcnow()
    intent = None
    if endpoint.payment_method != "cash_at_station" and endpoint.payment_started:
        intent = build.intent(checkout, amount_fen=checkout.grand_total_fen,
                              status="succeeded" if checkout.paid_at else "requires_payment_method")
    refund = None
    if order.paid_at is not None:
        settlement.credit_sale(order)
        ledger.record_sale(order, order.paid_at)
        if endpoint.sale_excluded:
            db.session.flush()
            review.exclude_sale(order.id, build.user("admin"), reason="自买自卖")
        refund = Refund(order_id=order.id, checkout_id=checkout.id, amount_fen=100, reason="少发了一斤",
                        method="cash" if endpoint.payment_method == "cash_at_station" else "stripe",
                        payment_intent_id=intent.id if intent else None)
        db.session.add(refund)
    claim = None
    if endpoint.claim_status is not None:
        claim = Claim(order_id=order.id, order_line_id=order.lines[0].id, buyer_user_id=buyer.id,
                      seller_user_id=owner.id, opened_by_user_id=buyer.id, reason="damaged", description="压坏了",
                      amount_asked_fen=100, offered_fen=50 if endpoint.claim_status == "offered" else None,
                      status=endpoint.claim_status, respond_by=utcnow() + timedelta(hours=48))
        db.session.add(claim)
    db.session.add(StationCashEntry(station_id=station.id, kind="collection", amount_fen=10_000,
                                    recorded_by_user_id=partner.id))
    address = DeliveryAddress(user_id=buyer.id, recipient_name="张三", recipient_phone="13800138000",
                              county_adcode=village.county_adcode, detail="人民路 1 号")
    db.session.add(address)
    # A campaign with a pending proposal, and a listing that may join it; both listed by the
    # partner for the seller, so that either may act on them.
    campaign = build.make_campaign()
    campaign_item = build.make_campaign_item(campaign, build.product(seller=owner, listed_by_user_id=partner.id),
                                             state="pending")
    proposable = build.product(seller=owner, listed_by_user_id=partner.id)
    db.session.flush()
    return SimpleNamespace(county=village.county_adcode, village=village, partner=partner, station=station,
                           target_user=build.user("buyer"), product=product, image=image, for_sale=for_sale,
                           checkout=checkout, order=order, seller=owner, refund=refund, address=address,
                           claim=claim, campaign=campaign, campaign_item=campaign_item, proposable=proposable)


@pytest.fixture
def openapi(client) -> dict:
    return client.get("/api/v1/openapi.json").json


def test_every_endpoint_in_the_spec_has_a_row(openapi):
    in_spec = {(method.upper(), path)
               for path, operations in openapi["paths"].items() for method in operations if method in HTTP_METHODS}
    in_table = {(e.method, e.path) for e in ENDPOINTS}
    assert in_spec - in_table == set(), "add a row to ENDPOINTS for each new endpoint"
    assert in_table - in_spec == set(), "remove rows for endpoints that no longer exist"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_documented_roles_match_the_table(openapi, endpoint):
    operation = openapi["paths"][endpoint.path][endpoint.method.lower()]
    assert operation.get("x-required-roles") == _spec_roles(endpoint.who)
    assert ("security" in operation) == (endpoint.who != PUBLIC)


def _may_call(who, caller: str) -> bool:
    if who == PUBLIC:
        return True
    if who == SIGNED_IN:
        return caller != "anonymous"
    return caller in who


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_endpoint_answers_each_caller_by_its_policy(request, client, build, endpoint, caller):
    if endpoint.needs_stripe and _may_call(endpoint.who, caller):
        request.getfixturevalue("stripe_configured")
    if caller == "anonymous":
        caller_user = None
    else:  # an official's report scope is the county of the records the calls refer to
        caller_user = build.official("652927") if caller == "official" else build.user(caller)
    world = _world(build, endpoint, caller_user)
    headers = {} if caller_user is None else {"Authorization": f"Bearer {build.token(caller_user)}"}
    path = endpoint.path.format(user_id=world.target_user.id, adcode=world.county, station_id=world.station.id,
                                product_id=world.product.id, image_id=world.image.id,
                                checkout_id=world.checkout.id, order_id=world.order.id, seller_user_id=world.seller.id,
                                refund_id=world.refund.id if world.refund else 0, report="counties",
                                address_id=world.address.id, token=world.product.trace_token,
                                claim_id=world.claim.id if world.claim else 0, campaign_id=world.campaign.id,
                                item_id=world.campaign_item.id)
    call = endpoint.request(world)
    headers.update(call.pop("headers", {}))

    response = client.open(path, method=endpoint.method, headers=headers, **call)

    if caller == "official" and endpoint.stranger_status:
        assert response.status_code == endpoint.stranger_status, response.json
    elif _may_call(endpoint.who, caller):
        assert 200 <= response.status_code < 300, response.json
    elif caller == "anonymous":
        assert response.status_code == 401, response.json
        assert response.json["error"]["code"] == "not_authenticated"
    else:
        assert response.status_code == 403, response.json
        assert response.json["error"]["code"] == "forbidden"
