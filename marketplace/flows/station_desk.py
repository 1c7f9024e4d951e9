"""The station desk: what a partner does for the villagers of their station.

Rules:
- A partner acts only for their own station (invariant 8); another partner, a buyer or a seller
  is refused with ``not_station_partner``.
- A villager without a phone is registered by the partner, with their consent, as an account
  that cannot log in (stations.villagers). The villager is the seller of record of what the
  partner lists for them (the partner is recorded as the agent, ``listed_by``) and the buyer of
  record of what the partner orders for them (the partner is recorded as ``placed_by``).
  Settlement, the sales ledger and the reports therefore count the villager; the review of
  poverty-county sales still flags sales the station's partner placed in their own county.
- Listings for villagers come from the station's village and county, and go through review like
  those of any unverified seller.
- Assisted orders are delivered to the station and paid in cash there; the partner then records
  the cash, marks the parcel arrived and hands it over, all through the services that do so for
  everyone else.
- Each use case commits once; if it fails, nothing of it is left (a villager registered for a
  listing that was refused is not kept).
"""
from dataclasses import dataclass

from marketplace.accounts import services as accounts
from marketplace.accounts.services import User
from marketplace.catalog import services as catalog
from marketplace.catalog.services import Product
from marketplace.common.pagination import Page
from marketplace.errors import AppError, InvalidInput
from marketplace.extensions import db
from marketplace.flows import station_cash
from marketplace.flows.errors import FlowErrorCode
from marketplace.orders import checkout as checkout_service
from marketplace.orders import services as orders
from marketplace.orders.services import Checkout, Order
from marketplace.stations import cash, villagers
from marketplace.stations.services import ServiceStation
from marketplace.stations.villagers import ConsentRequired, VillagerChoice


@dataclass
class Desk:
    station: ServiceStation
    balance_fen: int
    awaiting_cash: int
    parcels_expected: int
    parcels_arrived: int
    villagers: int


def open_desk(station_id: int, partner: User) -> Desk:
    """The desk's front page: what the station owes, and how much waits for the partner."""
    station = cash.require_partner(station_id, partner)
    parcels = orders.station_parcels(station_id)
    return Desk(station, cash.balance_fen(station_id), len(orders.checkouts_awaiting_cash(station_id)),
                len(parcels.expected), len(parcels.arrived), len(villagers.villager_ids(station_id)))


def list_for_villager(station_id: int, partner: User, villager: VillagerChoice, *, consent: bool,
                      **product_fields) -> Product:
    """List a product for a villager, who becomes its seller of record; the partner is its agent.

    The listing comes from the station's village and is submitted for review at once."""
    station = cash.require_partner(station_id, partner)
    if not consent:
        raise ConsentRequired()
    try:
        seller = villagers.villager_for(station, partner, villager, consent=consent)
        # create_product commits this use case: the new villager (if any) with their listing.
        return catalog.create_product(seller, listed_by=partner, publish=True,
                                      origin_county_adcode=station.village.county_adcode,
                                      origin_village_id=station.village_id, **product_fields)
    except AppError:
        db.session.rollback()
        raise


def villager_listings(station_id: int, partner: User, *, page: int = 1, per_page: int = 20) -> Page:
    """What the partner listed for this station's villagers, newest first."""
    cash.require_partner(station_id, partner)
    return catalog.list_agent_products(partner, seller_ids=villagers.villager_ids(station_id), page=page,
                                       per_page=per_page)


def villager_listing(station_id: int, partner: User, product_id: int) -> Product:
    """A listing the partner made for a villager of this station, as its agent may change it."""
    cash.require_partner(station_id, partner)
    product = catalog.sellers_product(product_id, partner)
    if product.seller_user_id not in villagers.villager_ids(station_id):
        raise catalog.ProductNotFound(product_id)
    return product


def switch_villager_listing(station_id: int, partner: User, product_id: int, action: str) -> Product:
    """Pause or resume a listing the partner made for a villager of this station."""
    switch = {"pause": catalog.pause_product, "resume": catalog.resume_product}.get(action)
    if switch is None:
        raise InvalidInput(f"Unknown listing action {action!r}.", code=FlowErrorCode.UNKNOWN_ACTION)
    villager_listing(station_id, partner, product_id)
    return switch(product_id, partner)


def reprice_villager_listing(station_id: int, partner: User, product_id: int, *, expected_version: int | None,
                             price_fen: int) -> Product:
    """Change the price of a villager's listing (the version the partner saw must still be current)."""
    villager_listing(station_id, partner, product_id)
    return catalog.update_product(product_id, partner, expected_version, price_fen=price_fen)


def place_assisted_order(station_id: int, partner: User, villager: VillagerChoice, *, lines: list[dict],
                         idempotency_key: str, consent: bool = False) -> Checkout:
    """Order from the catalog for a villager (the buyer of record), delivered to this station and
    paid in cash there. The same key with the same request returns the first checkout."""
    station = cash.require_partner(station_id, partner)
    try:
        buyer = villagers.villager_for(station, partner, villager, consent=consent)
        # place_checkout commits this use case: the new villager (if any) with the checkout.
        checkout, _ = checkout_service.place_checkout(buyer.id, lines=lines, delivery={"station_id": station.id},
                                                      payment_method="cash_at_station",
                                                      idempotency_key=idempotency_key, placed_by_user_id=partner.id)
    except AppError:
        db.session.rollback()
        raise
    return checkout


def awaiting_cash(station_id: int, partner: User) -> list[Checkout]:
    cash.require_partner(station_id, partner)
    return orders.checkouts_awaiting_cash(station_id)


def collect_cash(station_id: int, partner: User, checkout_id: int, *, amount_fen: int) -> Checkout:
    """Record the cash taken for a checkout of this station (exactly what it owes)."""
    cash.require_partner(station_id, partner)
    if orders.station_of_checkout(checkout_id) != station_id:
        raise orders.CheckoutNotFound(checkout_id)
    return station_cash.record_cash_collection(checkout_id, partner, amount_fen=amount_fen)


def parcels(station_id: int, partner: User) -> orders.StationParcels:
    cash.require_partner(station_id, partner)
    return orders.station_parcels(station_id)


def move_parcel(station_id: int, partner: User, order_id: int, action: str) -> Order:
    """Mark a parcel of this station arrived (``arrive``) or handed over (``hand_over``)."""
    if action not in ("arrive", "hand_over"):
        raise InvalidInput(f"Unknown parcel action {action!r}.", code=FlowErrorCode.UNKNOWN_ACTION)
    cash.require_partner(station_id, partner)
    if orders.station_of_order(order_id) != station_id:
        raise orders.OrderNotFound(order_id)
    return orders.move_order(order_id, action, partner)


def names_of(user_ids) -> dict[int, str]:
    """Display names of the buyers and sellers shown on the desk's lists."""
    return accounts.display_names(user_ids)
