"""The station desk's use cases: a partner lists for a villager without a phone (the villager is
the seller of record, the partner the agent), orders for a villager (the villager is the buyer of
record, paid in cash at the station), records the cash, receives and hands over parcels; only
for their own station, and a refused use case leaves nothing behind."""
import pytest
from sqlalchemy import func, select

from marketplace.accounts import services as accounts
from marketplace.accounts.models import User
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Product
from marketplace.errors import AppError
from marketplace.extensions import db
from marketplace.flows import station_desk as desk
from marketplace.orders.models import Checkout, Order, OrderEvent
from marketplace.payments.models import SellerLedgerEntry
from marketplace.reports import rollup
from marketplace.reports.models import SalesLedgerEntry
from marketplace.stations import cash, villagers
from marketplace.stations.models import Villager
from marketplace.stations.villagers import VillagerChoice

WUSHI = "652927"  # the builders' default county: a national poverty county here
APPLES = {"title": "乌什县冰糖心苹果", "category": "fruit", "unit": "jin", "price_fen": 1250, "stock_units": 40}


@pytest.fixture
def partner(build) -> User:
    return build.user("partner")


@pytest.fixture
def station(build, partner):
    station = build.station(partner=partner)
    db.session.commit()  # builders only flush; a refused use case rolls back what is not committed
    return station


def counts() -> tuple[int, int, int, int]:
    """Users, villagers, products and checkouts: what a refused use case must not add to."""
    return tuple(db.session.scalar(select(func.count()).select_from(model)) for model in (User, Villager, Product, Checkout))


def stock_of(products) -> list[int]:
    return list(db.session.scalars(select(Product.stock_units).where(Product.id.in_([p.id for p in products]))
                                   .order_by(Product.id)))


def refused(code: str, call, *args, **kwargs) -> AppError:
    db.session.commit()  # what the test built stays; only the use case's own writes may go
    before = counts()
    with pytest.raises(AppError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code
    db.session.rollback()
    assert counts() == before
    return caught.value


def list_apples(station, partner, villager=None, **overrides):
    return desk.list_for_villager(station.id, partner, villager or VillagerChoice(name="买买提·吐尔逊", contact_phone="0997-5551234"),
                                  consent=overrides.pop("consent", True), **{**APPLES, **overrides})


# ---------------------------------------------------------------- listing for a villager


def test_listing_for_a_new_villager_makes_the_villager_seller_of_record_and_the_partner_agent(station, partner):
    product = list_apples(station, partner)

    villager = db.session.get(Villager, product.seller_user_id)
    assert (product.seller.display_name, product.listed_by_user_id) == ("买买提·吐尔逊", partner.id)
    assert (villager.station_id, villager.contact_phone, villager.consent_recorded_by_user_id) == (
        station.id, "0997-5551234", partner.id)
    assert (product.origin_county_adcode, product.origin_village_id) == (station.village.county_adcode, station.village_id)
    assert product.status == "pending_review"  # villagers are unverified sellers
    assert sorted(product.seller.roles) == ["buyer", "seller"]


def test_a_villager_account_has_no_phone_email_or_password_and_cannot_log_in(station, partner):
    villager = list_apples(station, partner).seller

    assert (villager.phone, villager.email, villager.password_hash) == (None, None, None)
    assert accounts._password_matches(villager.password_hash, "") is False
    with pytest.raises(AppError):
        accounts.authenticate_password(villager.display_name, "")


def test_a_second_listing_for_a_registered_villager_reuses_the_villager(station, partner):
    first = list_apples(station, partner)
    second = list_apples(station, partner, VillagerChoice(villager_id=first.seller_user_id), title="核桃", category="nuts")

    assert second.seller_user_id == first.seller_user_id
    assert [v.user_id for v in villagers.list_villagers(station.id, partner)] == [first.seller_user_id]
    assert [p.id for p in desk.villager_listings(station.id, partner).items] == [second.id, first.id]


def test_listing_without_the_villagers_consent_is_refused_and_registers_nobody(station, partner):
    refused("consent_required", list_apples, station, partner, consent=False)


def test_listing_for_a_new_villager_without_a_name_is_refused(station, partner):
    refused("villager_required", list_apples, station, partner, VillagerChoice(name="  "))


def test_a_villager_name_longer_than_its_column_is_refused(station, partner):
    refused("villager_too_long", list_apples, station, partner, VillagerChoice(name="名" * 61))


def test_a_refused_listing_does_not_keep_the_villager_it_would_have_registered(station, partner):
    # A box needs its weight: the catalog refuses after the villager was added to the session.
    refused("net_weight_required", list_apples, station, partner, unit="box")


def test_a_villager_of_another_station_cannot_be_chosen(build, station, partner):
    other_partner = build.user("partner")
    elsewhere = list_apples(build.station(partner=other_partner), other_partner)

    refused("villager_not_found", list_apples, station, partner, VillagerChoice(villager_id=elsewhere.seller_user_id))


@pytest.mark.parametrize("who", ["other_partner", "buyer", "seller"])
def test_only_the_stations_partner_lists_for_its_villagers(build, station, who):
    intruder = build.user({"other_partner": "partner", "buyer": "buyer", "seller": "seller"}[who])
    if who == "other_partner":
        build.station(partner=intruder)

    refused("not_station_partner", list_apples, station, intruder)


def test_the_agent_partner_edits_and_pauses_the_villagers_listing(station, partner):
    product = list_apples(station, partner)
    product.status = "active"
    db.session.commit()

    edited = catalog.update_product(product.id, partner, product.version, price_fen=1180)
    paused = catalog.pause_product(product.id, partner)

    assert (edited.price_fen, paused.status) == (1180, "paused")


def test_another_partner_cannot_change_a_villagers_listing(build, station, partner):
    product = list_apples(station, partner)
    other = build.user("partner")
    build.station(partner=other)

    with pytest.raises(AppError) as caught:
        catalog.pause_product(product.id, other)

    assert caught.value.code == "not_owner"


# ---------------------------------------------------------------- ordering for a villager


@pytest.fixture
def goods(build):
    """Two sellers' listings elsewhere (Guizhou), 10 units each."""
    products = [build.product(build.user("seller", county="522634"), price_fen=1250 + 500 * i, stock_units=10)
                for i in range(2)]
    db.session.commit()
    return products


def order_for(station, partner, goods, villager=None, key="form-1", quantities=(2, 1), **kwargs):
    lines = [{"product_id": p.id, "quantity": q} for p, q in zip(goods, quantities, strict=True)]
    return desk.place_assisted_order(station.id, partner, villager or VillagerChoice(name="阿依古丽"), lines=lines,
                                     idempotency_key=key, consent=kwargs.pop("consent", True), **kwargs)


def test_an_assisted_order_is_the_villagers_paid_in_cash_at_the_station_and_placed_by_the_partner(
        station, partner, goods):
    checkout = order_for(station, partner, goods)

    buyer = db.session.get(User, checkout.buyer_user_id)
    assert (buyer.display_name, buyer.password_hash, db.session.get(Villager, buyer.id).station_id) == (
        "阿依古丽", None, station.id)
    assert (checkout.placed_by_user_id, checkout.payment_method, checkout.station_id) == (
        partner.id, "cash_at_station", station.id)
    assert sorted(o.seller_user_id for o in checkout.orders) == sorted(p.seller_user_id for p in goods)  # one per seller
    assert stock_of(goods) == [8, 9]
    placed = db.session.scalars(select(OrderEvent).where(OrderEvent.action == "place")).all()
    assert {event.actor_user_id for event in placed} == {partner.id}


def test_sending_the_same_assisted_order_twice_places_it_once(station, partner, goods):
    first = order_for(station, partner, goods)
    second = order_for(station, partner, goods, VillagerChoice(villager_id=first.buyer_user_id))

    assert second.id == first.id
    assert stock_of(goods) == [8, 9]
    assert db.session.scalar(select(func.count()).select_from(Checkout)) == 1


def test_an_assisted_order_short_of_stock_leaves_nothing_behind(station, partner, goods):
    error = refused("out_of_stock", order_for, station, partner, goods, quantities=(11, 1))

    assert error.details["products"][0]["available_units"] == 10
    assert stock_of(goods) == [10, 10]


def test_a_villager_cannot_buy_their_own_listing_through_the_partner(station, partner):
    product = list_apples(station, partner)
    product.status = "active"
    db.session.commit()

    refused("cart_rejected", order_for, station, partner, [product], VillagerChoice(villager_id=product.seller_user_id),
            quantities=(1,))


def test_a_new_villager_is_registered_for_an_order_only_with_consent(station, partner, goods):
    refused("consent_required", order_for, station, partner, goods, consent=False)


def test_the_partner_who_placed_an_assisted_order_may_cancel_it_and_the_stock_returns(client, build, station, partner, goods):
    checkout = order_for(station, partner, goods)

    response = client.post(f"/api/v1/orders/{checkout.orders[0].id}/cancel",
                           headers={"Authorization": f"Bearer {build.token(partner)}"})

    assert response.status_code == 200, response.json
    assert sorted(stock_of(goods)) == [9, 10]


# ---------------------------------------------------------------- cash and parcels


def test_recorded_cash_pays_the_orders_and_the_villager_is_buyer_of_record_in_the_ledgers(station, partner, goods):
    checkout = order_for(station, partner, goods)
    assert [c.id for c in desk.awaiting_cash(station.id, partner)] == [checkout.id]

    desk.collect_cash(station.id, partner, checkout.id, amount_fen=checkout.grand_total_fen)

    db.session.expire_all()
    assert {o.status for o in db.session.get(Checkout, checkout.id).orders} == {"paid"}
    assert cash.balance_fen(station.id) == checkout.grand_total_fen
    assert desk.awaiting_cash(station.id, partner) == []
    sales = db.session.execute(select(SalesLedgerEntry.buyer_user_id, SalesLedgerEntry.station_id)).all()
    assert set(sales) == {(checkout.buyer_user_id, station.id)}
    credited = set(db.session.scalars(select(SellerLedgerEntry.seller_user_id).where(SellerLedgerEntry.kind == "sale")))
    assert credited == {p.seller_user_id for p in goods}


def test_the_villagers_sales_are_credited_to_the_villager(build, station, partner):
    product = list_apples(station, partner)
    product.status = "active"
    db.session.commit()
    checkout = build.checkout(build.user("buyer"), [product], station=station, payment_method="cash_at_station")

    desk.collect_cash(station.id, partner, checkout.id, amount_fen=checkout.grand_total_fen)

    credited = db.session.scalars(select(SellerLedgerEntry.seller_user_id).where(SellerLedgerEntry.kind == "sale")).all()
    assert credited == [product.seller_user_id]


def test_cash_of_the_wrong_amount_or_of_another_stations_checkout_is_refused(build, station, partner, goods):
    checkout = order_for(station, partner, goods)
    elsewhere = build.checkout(build.user("buyer"), [goods[0]], station=build.station(), payment_method="cash_at_station")

    refused("cash_amount_mismatch", desk.collect_cash, station.id, partner, checkout.id,
            amount_fen=checkout.grand_total_fen - 1)
    refused("checkout_not_found", desk.collect_cash, station.id, partner, elsewhere.id,
            amount_fen=elsewhere.grand_total_fen)
    assert cash.balance_fen(station.id) == 0


def test_a_parcel_is_expected_then_arrives_then_is_handed_over(build, station, partner, goods):
    checkout = order_for(station, partner, goods[:1], quantities=(1,))
    desk.collect_cash(station.id, partner, checkout.id, amount_fen=checkout.grand_total_fen)
    [order] = db.session.get(Checkout, checkout.id).orders
    seller = db.session.get(User, order.seller_user_id)
    assert [o.id for o in desk.parcels(station.id, partner).expected] == [order.id]
    from marketplace.orders import services as orders
    orders.move_order(order.id, "ship", seller, carrier="邮政", tracking_number="9876543210")

    desk.move_parcel(station.id, partner, order.id, "arrive")
    waiting = desk.parcels(station.id, partner)
    desk.move_parcel(station.id, partner, order.id, "hand_over")
    done = desk.parcels(station.id, partner)

    assert ([o.id for o in waiting.expected], [o.id for o in waiting.arrived]) == ([], [order.id])
    assert ([o.id for o in done.arrived], [o.id for o in done.handed_over]) == ([], [order.id])
    assert db.session.get(Order, order.id).status == "delivered"
    refused("illegal_transition", desk.move_parcel, station.id, partner, order.id, "hand_over")


def test_parcels_of_another_station_cannot_be_moved(build, station, partner, goods):
    other = build.station()
    checkout = build.checkout(build.user("buyer"), [goods[0]], station=other, payment_method="cash_at_station",
                              status="shipped")

    refused("order_not_found", desk.move_parcel, station.id, partner, checkout.orders[0].id, "arrive")
    refused("not_station_partner", desk.move_parcel, other.id, partner, checkout.orders[0].id, "arrive")


def test_the_desk_counts_what_waits_for_the_partner(build, station, partner, goods):
    order_for(station, partner, goods)
    build.checkout(build.user("buyer"), [goods[0]], station=station, status="shipped")

    front = desk.open_desk(station.id, partner)

    assert (front.balance_fen, front.awaiting_cash, front.parcels_expected, front.parcels_arrived, front.villagers) == (
        0, 1, 1, 0, 1)


# ---------------------------------------------------------------- review of poverty-county sales


def test_an_assisted_order_of_local_produce_is_flagged_as_placed_by_the_local_partner(client, build, station, partner):
    build.county(WUSHI).is_national_poverty_county = True
    local = build.product(build.user("seller", county=WUSHI), stock_units=10)
    distant = build.product(build.user("seller", county="522634"), stock_units=10)
    build.county("522634").is_national_poverty_county = True
    flagged = order_for(station, partner, [local], quantities=(1,), key="local")
    not_flagged = order_for(station, partner, [distant], VillagerChoice(villager_id=flagged.buyer_user_id),
                            quantities=(1,), key="distant")
    own_cash = build.checkout(build.user("buyer"), [local], station=station, payment_method="cash_at_station")
    for checkout in (flagged, not_flagged, own_cash):  # the last: a buyer who came to pay themselves
        desk.collect_cash(station.id, partner, checkout.id, amount_fen=checkout.grand_total_fen)
    rollup.roll_up_all()
    today = db.session.scalar(select(SalesLedgerEntry.business_day)).isoformat()

    response = client.get("/api/v1/review/flags", query_string={"from": today, "to": today},
                          headers=build.headers("admin"))

    found = [flag for flag in response.json["items"] if flag["kind"] == "self_dealing"]
    assert [(flag["order_id"], flag["buyer_user_id"]) for flag in found] == [
        (flagged.orders[0].id, flagged.buyer_user_id)]
    assert "placed this order for a villager" in found[0]["detail"]
