"""The demo's sales, so that every report has figures on a fresh database: thirteen months of
history ending now, the stations' assisted orders paid in cash, and one flagged sale excluded from
the official figures by the administrator; then the rollups the reports read are rebuilt.

The history is written by ``seed.history`` (the generator behind ``--history``), sized for the demo
and limited to the counties already registered (the ten reference counties on a fresh database).
Station business and the exclusion go through the same services as the station desk and the
review pages, so the station cash ledger and the review's audit log have their entries.
"""
import random
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from marketplace.accounts.models import User, UserRole
from marketplace.catalog.models import Product
from marketplace.catalog.taxonomy import ProductStatus
from marketplace.common.time import business_day, utcnow
from marketplace.extensions import db
from marketplace.flows import station_desk
from marketplace.reports import review, rollup
from marketplace.reports.models import SaleExclusion
from marketplace.reports.periods import Period
from marketplace.reports.queries import Scope
from marketplace.stations.models import ServiceStation
from marketplace.stations.villagers import VillagerChoice, villager_ids
from seed import history
from seed.demo import DEMO_ADMIN_PHONE

DEMO_HISTORY_ROWS = 6000  # sales-ledger rows of the demo's history (sales and refunds)
HISTORY_MONTHS = 13
VILLAGERS = ["阿依古丽", "买买提", "韦秀英", "杨德胜", "龙桂兰", "田小红", "吴建国", "蒙凤英", "石玉兰", "冯春梅"]
ASSISTED_ORDERS_PER_STATION = 3  # the last one of each station still awaits its cash


@dataclass
class DemoSales:
    ledger_rows: int = 0
    assisted_orders: int = 0
    cash_collections: int = 0
    exclusions: int = 0


def history_start(today: date) -> date:
    """The first day of the demo's history: thirteen months before ``today``, or earlier when that
    is needed to hold both of the two latest Double 11s that have begun.

    In November and December the latest Double 11 is this year's, and 1 November of last year lies
    within the thirteen months. From January to October this year's Double 11 has not come yet, so
    the history reaches back to 1 November of the year before last: the latest Double 11 (last
    year's, which the ``double11`` preset shows) then has its year-earlier figures too."""
    months = today.year * 12 + today.month - 1 - HISTORY_MONTHS
    year, month = months // 12, months % 12 + 1
    thirteen_months = date(year, month, min(today.day, monthrange(year, month)[1]))  # 31 March -> 28 February
    latest_double11 = today.year if today >= date(today.year, 11, 1) else today.year - 1
    return min(thirteen_months, date(latest_double11 - 1, 11, 1))


def seed_sales(*, seed: int, end: date | None = None, say: Callable[[str], None] = print) -> DemoSales:
    """The demo's history (ending now, or on the whole day ``end``), station business and an
    exclusion, then the rollups. Re-running adds nothing."""
    until: datetime | None = None
    if end is None:
        until = utcnow()
        end = business_day(until)
    result = DemoSales()
    result.ledger_rows = history.seed_history(DEMO_HISTORY_ROWS, start=history_start(end), end=end, until=until,
                                              whole_registry=False, seed=seed, say=say).rows
    result.assisted_orders, result.cash_collections = _station_business(seed, say)
    result.exclusions = _exclude_a_flagged_sale(say)
    rows = rollup.rebuild()
    say(f"rollups rebuilt from {rows} ledger row(s)")
    return result


def _station_business(seed: int, say: Callable[[str], None]) -> tuple[int, int]:
    """Villagers at every station, with assisted orders of produce (the station's county's first),
    all but the last paid in cash at the station. A station that has villagers is left as it is."""
    orders = collections = 0
    if not _offers(partner_user_id=0):
        say("stations: no listings in stock to order, no assisted orders")
        return orders, collections
    stations = db.session.scalars(select(ServiceStation).where(ServiceStation.is_active).order_by(ServiceStation.id))
    for number, station in enumerate(list(stations)):
        if villager_ids(station.id):
            continue
        rng = random.Random(seed * 7919 + number)
        county = station.village.county_adcode
        offers = _offers(station.partner_user_id)
        local = [offer for offer in offers if offer.origin_county_adcode == county]
        partner = db.session.get(User, station.partner_user_id)
        villagers = rng.sample(VILLAGERS, 2)
        for turn in range(ASSISTED_ORDERS_PER_STATION):
            # The first order of each station is of its own county's produce when it has some.
            pool = local if turn == 0 and local else offers
            goods = rng.sample(pool, min(len(pool), rng.randint(1, 2)))
            lines = [{"product_id": product.id, "quantity": rng.randint(1, min(3, product.stock_units))}
                     for product in goods]
            # The second order is again for the first villager, as a partner picks a registered one.
            registered = villager_ids(station.id)
            choice = (VillagerChoice(villager_id=registered[0]) if turn == 1 and registered
                      else VillagerChoice(name=villagers[turn % 2]))
            checkout = station_desk.place_assisted_order(station.id, partner, choice, lines=lines, consent=True,
                                                         idempotency_key=f"demo-station-{station.id}-{turn}")
            orders += 1
            if turn < ASSISTED_ORDERS_PER_STATION - 1:
                station_desk.collect_cash(station.id, partner, checkout.id, amount_fen=checkout.grand_total_fen)
                collections += 1
    say(f"stations: {orders} assisted orders, {collections} paid in cash")
    return orders, collections


def _offers(partner_user_id: int) -> list[Product]:
    """Active listings in stock of the demo's sellers (not the partner's own), by id."""
    return list(db.session.scalars(
        select(Product).join(UserRole, UserRole.user_id == Product.seller_user_id)
        .where(UserRole.role == "seller", Product.status == ProductStatus.ACTIVE, Product.stock_units >= 5,
               Product.seller_user_id != partner_user_id)
        .order_by(Product.id)))


def _exclude_a_flagged_sale(say: Callable[[str], None]) -> int:
    """The administrator takes one self-dealing sale (a partner's order in their own county) out of
    the official figures, as the review page does. Done once."""
    if db.session.scalar(select(SaleExclusion.id).limit(1)) is not None:
        return 0
    today = business_day(utcnow())  # the stations' orders were placed just now
    flags = review.anomaly_flags(Period(today, today), Scope())
    flagged = next((flag for flag in flags if flag["kind"] == "self_dealing" and not flag["excluded"]), None)
    if flagged is None:
        say("review: no self-dealing sale to exclude")
        return 0
    admin = db.session.scalar(select(User).where(User.phone == DEMO_ADMIN_PHONE))
    review.exclude_sale(flagged["order_id"], admin, flag="self_dealing",
                        reason="演示：服务站站长在本县为村民下单，核实前不计入扶贫销售统计")
    say(f"review: order {flagged['order_id']} excluded from the official figures")
    return 1
