"""Review of poverty-alleviation sales by administrators: registered poor households, anomaly flags,
exclusions from the official figures, and the audit log of every review action.

Anomaly flags on sales of national poverty counties in a period (computed when asked):
- ``self_dealing``: the buyer is the seller, or the partner of a service station in the county
  the produce comes from, or such a partner placed the order for a villager (the villager is the
  buyer of record of an assisted order, but the partner handled the cash);
- ``dominant_buyer``: one buyer made more than REVIEW_BUYER_SHARE_PERCENT of a county's net sales
  (counties with at least REVIEW_MIN_FEN);
- ``late_refund``: a refund confirmed in a later calendar month than the sale (after the sale's
  month was closed);
- ``spike``: a county's day at least REVIEW_SPIKE_FACTOR times its average day of the 28 before
  (and at least REVIEW_MIN_FEN).

Flags on after-sales claims, over the CLAIM_REVIEW_DAYS (90) ending with the period (or now),
placed in the county the seller or buyer is registered in (none for a buyer without one, shown
only when the scope is the whole country):
- ``claim_rate``: a seller's claims accepted / lines delivered is above CLAIM_RATE_FLAG percent
  (with at least CLAIM_RATE_MIN_LINES lines delivered). A claim counts as accepted when it was
  settled with money (accepted by the seller or automatically, an offer accepted, or an
  administrator's decision above 0), when it was settled;
- ``many_claims``: a buyer opened at least CLAIM_BUYER_FLAG_CLAIMS claims against at least
  CLAIM_BUYER_FLAG_SELLERS different sellers.
The claims tables are read here as plain SQL (reports sits below claims: it reads their rows,
never their code), so the figure has one home; claims.services.seller_claim_rate hands it out.
"""
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import and_, column, exists, func, select, table

from marketplace.accounts import services as accounts
from marketplace.accounts.errors import AccountErrorCode
from marketplace.accounts.services import Role, User
from marketplace.common.pagination import Page, paginate
from marketplace.common.time import BUSINESS_TZ, utcnow
from marketplace.errors import Conflict, InvalidInput, NotFound
from marketplace.extensions import db
from marketplace.geo.models import County, Village
from marketplace.orders.models import Checkout, Order, OrderLine
from marketplace.reports import ledger
from marketplace.reports.errors import ReportErrorCode
from marketplace.reports.models import (
    CountyDailySales,
    PovertyHouseholdReview,
    ReviewAuditEntry,
    SaleExclusion,
    SalesLedgerEntry,
)
from marketplace.reports.periods import Period
from marketplace.reports.queries import Scope
from marketplace.stations.models import ServiceStation

L = SalesLedgerEntry
C = County
FLAG_KINDS = ("self_dealing", "dominant_buyer", "late_refund", "spike", "claim_rate", "many_claims")
# The claims table, as much of it as the review reads.
CLAIMS = table("claims", column("id"), column("seller_user_id"), column("buyer_user_id"), column("granted_fen"),
               column("resolved_at"), column("created_at"))


def _audit(actor: User, action: str, subject_type: str, subject_id: int, note: str) -> None:
    db.session.add(ReviewAuditEntry(actor_user_id=actor.id, action=action, subject_type=subject_type,
                                    subject_id=subject_id, note=note))


# ---------------------------------------------------------------- registered poor households


def review_household(seller_user_id: int, admin: User, *, status: str, evidence_note: str) -> PovertyHouseholdReview:
    """Record whether a seller is a registered poor household (verified, rejected, or revoked)."""
    seller = accounts.get_user(seller_user_id)
    if not seller.has_role(Role.SELLER):
        raise InvalidInput(f"User {seller_user_id} is not a seller.", code=AccountErrorCode.NOT_A_SELLER,
                           details={"seller_user_id": seller_user_id})
    review = PovertyHouseholdReview(seller_user_id=seller.id, status=status, evidence_note=evidence_note.strip(),
                                    reviewed_by_user_id=admin.id)
    db.session.add(review)
    _audit(admin, f"household_{status}", "seller", seller.id, evidence_note.strip())
    db.session.commit()
    return review


def household_reviews(seller_user_id: int) -> list[PovertyHouseholdReview]:
    """A seller's household decisions, the one that holds first."""
    accounts.get_user(seller_user_id)
    return list(db.session.scalars(select(PovertyHouseholdReview).where(PovertyHouseholdReview.seller_user_id == seller_user_id)
                                   .order_by(PovertyHouseholdReview.id.desc())))


# ---------------------------------------------------------------- exclusions


class SaleNotFound(NotFound):
    code = ReportErrorCode.SALE_NOT_FOUND

    def __init__(self, order_id: int):
        super().__init__(f"Order {order_id} has no paid sale in the ledger.", details={"order_id": order_id})


def _lock_order(order_id: int) -> None:
    # The order's row serializes exclusions, inclusions and refund confirmations of one sale
    # (payments locks it too before writing a refund to the ledger).
    db.session.execute(select(Order.id).where(Order.id == order_id).with_for_update())


def exclude_sale(order_id: int, admin: User, *, reason: str, flag: str | None = None) -> SaleExclusion:
    """Take an order's sales out of the official figures (every day it touched), with a reason."""
    if db.session.scalar(select(L.id).where(L.order_id == order_id, L.kind == "sale").limit(1)) is None:
        raise SaleNotFound(order_id)
    _lock_order(order_id)
    if ledger.active_exclusion(order_id) is not None:
        raise Conflict("This sale is already excluded from the official figures.",
                       code=ReportErrorCode.ALREADY_EXCLUDED, details={"order_id": order_id})
    exclusion = SaleExclusion(order_id=order_id, flag=flag, reason=reason.strip(), excluded_by_user_id=admin.id)
    db.session.add(exclusion)
    db.session.flush()
    ledger.adjust(order_id, exclusion, "exclusion", utcnow())
    _audit(admin, "exclude_sale", "order", order_id, reason.strip())
    db.session.commit()
    return exclusion


def include_sale(order_id: int, admin: User, *, reason: str) -> SaleExclusion:
    """Put an excluded sale back into the official figures."""
    _lock_order(order_id)
    exclusion = ledger.active_exclusion(order_id)
    if exclusion is None:
        raise Conflict("This sale is not excluded.", code=ReportErrorCode.NOT_EXCLUDED, details={"order_id": order_id})
    exclusion.lifted_at, exclusion.lifted_by_user_id, exclusion.lift_reason = utcnow(), admin.id, reason.strip()
    ledger.adjust(order_id, exclusion, "inclusion", exclusion.lifted_at)
    _audit(admin, "include_sale", "order", order_id, reason.strip())
    db.session.commit()
    return exclusion


def exclusions(*, active_only: bool = True, page: int = 1, per_page: int = 50) -> Page:
    query = select(SaleExclusion).order_by(SaleExclusion.id.desc())
    if active_only:
        query = query.where(SaleExclusion.lifted_at.is_(None))
    return paginate(query, page, per_page)


def audit_log(*, page: int = 1, per_page: int = 50) -> Page:
    return paginate(select(ReviewAuditEntry).order_by(ReviewAuditEntry.id.desc()), page, per_page)


# ---------------------------------------------------------------- anomaly flags


def _poverty_sales(period: Period, scope: Scope):
    return (select().select_from(L).join(C, C.adcode == L.origin_county_adcode)
            .where(C.is_national_poverty_county.is_(True), L.business_day >= period.first, L.business_day <= period.last,
                   *scope.where(L.origin_county_adcode)))


def _excluded_orders(order_ids: set[int]) -> set[int]:
    if not order_ids:
        return set()
    return set(db.session.scalars(select(SaleExclusion.order_id).where(SaleExclusion.order_id.in_(order_ids),
                                                                      SaleExclusion.lifted_at.is_(None))))


def _local_partner(user_id, *joined):
    """``user_id`` runs a service station in the county the ledger row's produce comes from."""
    return exists().where(ServiceStation.partner_user_id == user_id, Village.id == ServiceStation.village_id,
                          Village.county_adcode == L.origin_county_adcode, *joined)


def _self_dealing(period: Period, scope: Scope) -> list[dict]:
    buyer_is_partner = _local_partner(L.buyer_user_id)
    placed_by_partner = _local_partner(Checkout.placed_by_user_id, Order.id == L.order_id,
                                       Checkout.id == Order.checkout_id)
    rows = db.session.execute(
        _poverty_sales(period, scope)
        .add_columns(L.order_id, L.origin_county_adcode, C.name, L.buyer_user_id, L.seller_user_id,
                     func.sum(L.amount_fen), func.min(L.business_day), buyer_is_partner.label("buyer_is_partner"))
        .where(L.kind == "sale", (L.buyer_user_id == L.seller_user_id) | buyer_is_partner | placed_by_partner)
        .group_by(L.order_id, L.origin_county_adcode, C.name, L.buyer_user_id, L.seller_user_id)
        .order_by(L.order_id)
    ).all()
    return [{"kind": "self_dealing", "county_adcode": county, "county": name, "order_id": order_id, "day": day,
             "buyer_user_id": buyer, "seller_user_id": seller, "amount_fen": int(fen),
             "detail": "The buyer is the seller." if buyer == seller
             else "The buyer runs a service station in the county the produce comes from." if partner_bought
             else "The partner of a service station in the county the produce comes from placed this order for a villager."}
            for order_id, county, name, buyer, seller, fen, day, partner_bought in rows]


def _dominant_buyers(period: Period, scope: Scope, share_percent: int, min_fen: int) -> list[dict]:
    county_net = (_poverty_sales(period, scope).add_columns(L.origin_county_adcode.label("county"),
                                                            func.sum(L.amount_fen).label("net"))
                  .group_by(L.origin_county_adcode).subquery())
    rows = db.session.execute(
        _poverty_sales(period, scope)
        .add_columns(L.origin_county_adcode, C.name, L.buyer_user_id, func.sum(L.amount_fen), county_net.c.net)
        .join(county_net, county_net.c.county == L.origin_county_adcode)
        .where(county_net.c.net >= min_fen)
        .group_by(L.origin_county_adcode, C.name, L.buyer_user_id, county_net.c.net)
        .having(func.sum(L.amount_fen) * 100 > county_net.c.net * share_percent)
        .order_by(L.origin_county_adcode, L.buyer_user_id)
    ).all()
    return [{"kind": "dominant_buyer", "county_adcode": county, "county": name, "buyer_user_id": buyer,
             "amount_fen": int(fen), "detail": f"One buyer made {int(fen) * 100 // int(net)} % of the county's "
                                               f"net sales ({int(fen)} of {int(net)} fen)."}
            for county, name, buyer, fen, net in rows]


def _late_refunds(period: Period, scope: Scope) -> list[dict]:
    sale = select(L.order_line_id, L.business_day.label("sold_on")).where(L.kind == "sale").subquery()
    rows = db.session.execute(
        _poverty_sales(period, scope)
        .add_columns(L.order_id, L.origin_county_adcode, C.name, func.sum(L.amount_fen), func.max(L.business_day),
                     func.min(sale.c.sold_on))
        .join(sale, sale.c.order_line_id == L.order_line_id)
        .where(L.kind == "refund")
        .group_by(L.order_id, L.origin_county_adcode, C.name).order_by(L.order_id)
    ).all()
    return [{"kind": "late_refund", "county_adcode": county, "county": name, "order_id": order_id, "day": refunded_on,
             "amount_fen": -int(fen), "detail": f"Refunded on {refunded_on} for a sale of {sold_on}, after its month closed."}
            for order_id, county, name, fen, refunded_on, sold_on in rows
            if (refunded_on.year, refunded_on.month) > (sold_on.year, sold_on.month)]


def _spikes(period: Period, scope: Scope, factor: int, min_fen: int) -> list[dict]:
    S = CountyDailySales
    candidates = db.session.execute(
        select(S.business_day, S.county_adcode, C.name, S.net_fen).join(C, C.adcode == S.county_adcode)
        .where(C.is_national_poverty_county.is_(True), S.business_day >= period.first, S.business_day <= period.last,
               S.net_fen >= min_fen, *scope.where(S.county_adcode))
        .order_by(S.business_day, S.county_adcode)
    ).all()
    if not candidates:
        return []
    history: dict[str, dict] = {}
    for day, county, net in db.session.execute(
            select(S.business_day, S.county_adcode, S.net_fen)
            .where(S.county_adcode.in_({row[1] for row in candidates}),
                   and_(S.business_day >= period.first - timedelta(days=28), S.business_day < period.last))).all():
        history.setdefault(county, {})[day] = net
    flags = []
    for day, county, name, net in candidates:
        before = sum(fen for d, fen in history.get(county, {}).items() if day - timedelta(days=28) <= d < day)
        # net > factor x (before / 28 days), in integers
        if net * 28 >= factor * before:
            flags.append({"kind": "spike", "county_adcode": county, "county": name, "day": day, "amount_fen": int(net),
                          "detail": f"{int(net)} fen in a day against {int(before) // 28} fen a day over the 28 days before."})
    return flags


def anomaly_flags(period: Period, scope: Scope) -> list[dict]:
    """Every flag on poverty-county sales in the period, with whether its order is already excluded."""
    scope.check()
    config = current_app.config
    flags = (_self_dealing(period, scope)
             + _dominant_buyers(period, scope, config["REVIEW_BUYER_SHARE_PERCENT"], config["REVIEW_MIN_FEN"])
             + _late_refunds(period, scope)
             + _spikes(period, scope, config["REVIEW_SPIKE_FACTOR"], config["REVIEW_MIN_FEN"])
             + _claim_flags(period, scope))
    excluded = _excluded_orders({flag["order_id"] for flag in flags if flag.get("order_id")})
    for flag in flags:
        flag["excluded"] = flag.get("order_id") in excluded
    return flags


# ---------------------------------------------------------------- claims


@dataclass
class ClaimRate:
    """A seller's claims accepted against their lines delivered, over ``days`` up to ``until``."""

    seller_user_id: int
    claims_accepted: int
    lines_delivered: int
    granted_fen: int
    days: int
    until: datetime
    flag_percent: int
    flagged: bool

    @property
    def rate_percent(self) -> float | None:
        return round(self.claims_accepted * 100 / self.lines_delivered, 1) if self.lines_delivered else None


def _claim_rates(seller_ids: list[int] | None, since: datetime, until: datetime) -> dict[int, tuple[int, int, int]]:
    """seller id -> (claims accepted, lines delivered, fen granted) in [since, until)."""
    delivered = (select(Order.seller_user_id.label("seller"), func.count(OrderLine.id).label("lines"))
                 .join(OrderLine, OrderLine.order_id == Order.id)
                 .where(Order.delivered_at >= since, Order.delivered_at < until))
    accepted = (select(CLAIMS.c.seller_user_id.label("seller"), func.count().label("claims"),
                       func.sum(CLAIMS.c.granted_fen).label("fen"))
                .where(CLAIMS.c.granted_fen > 0, CLAIMS.c.resolved_at >= since, CLAIMS.c.resolved_at < until))
    if seller_ids is not None:
        delivered = delivered.where(Order.seller_user_id.in_(seller_ids))
        accepted = accepted.where(CLAIMS.c.seller_user_id.in_(seller_ids))
    delivered = delivered.group_by(Order.seller_user_id).subquery()
    accepted = accepted.group_by(CLAIMS.c.seller_user_id).subquery()
    rows = db.session.execute(
        select(func.coalesce(delivered.c.seller, accepted.c.seller), func.coalesce(accepted.c.claims, 0),
               func.coalesce(delivered.c.lines, 0), func.coalesce(accepted.c.fen, 0))
        .select_from(delivered.join(accepted, accepted.c.seller == delivered.c.seller, full=True))).all()
    return {seller: (int(claims), int(lines), int(fen)) for seller, claims, lines, fen in rows}


def seller_claim_rate(seller_user_id: int, now: datetime | None = None) -> ClaimRate:
    """One seller's claim rate over the last CLAIM_REVIEW_DAYS."""
    seller = accounts.get_user(seller_user_id)
    config = current_app.config
    until = now or utcnow()
    days = config["CLAIM_REVIEW_DAYS"]
    claims, lines, fen = _claim_rates([seller.id], until - timedelta(days=days), until).get(seller.id, (0, 0, 0))
    return ClaimRate(seller.id, claims, lines, fen, days, until, config["CLAIM_RATE_FLAG"],
                     _rate_flagged(claims, lines))


def _rate_flagged(claims: int, lines: int) -> bool:
    config = current_app.config
    return lines >= config["CLAIM_RATE_MIN_LINES"] and claims * 100 > config["CLAIM_RATE_FLAG"] * lines


def _review_until(period: Period) -> datetime:
    end_of_period = datetime.combine(period.last + timedelta(days=1), time(), tzinfo=BUSINESS_TZ)
    return min(utcnow(), end_of_period)


def _registered_county(user_ids: set[int], scope: Scope) -> dict[int, tuple[str | None, str | None]]:
    """user id -> (county code, county name) of the users registered in the scope (any user,
    with or without a county, when the scope is the whole country)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(User.id, C.adcode, C.name).outerjoin(C, C.adcode == User.county_adcode)
        .where(User.id.in_(user_ids), *scope.where(C.adcode))).all()
    return {user_id: (adcode, name) for user_id, adcode, name in rows}


def _claim_flags(period: Period, scope: Scope) -> list[dict]:
    config = current_app.config
    until = _review_until(period)
    since = until - timedelta(days=config["CLAIM_REVIEW_DAYS"])
    sellers = {seller: figures for seller, figures in _claim_rates(None, since, until).items()
               if _rate_flagged(figures[0], figures[1])}
    buyers = db.session.execute(
        select(CLAIMS.c.buyer_user_id, func.count(), func.count(CLAIMS.c.seller_user_id.distinct()),
               func.coalesce(func.sum(CLAIMS.c.granted_fen), 0))
        .where(CLAIMS.c.created_at >= since, CLAIMS.c.created_at < until)
        .group_by(CLAIMS.c.buyer_user_id)
        .having(func.count() >= config["CLAIM_BUYER_FLAG_CLAIMS"],
                func.count(CLAIMS.c.seller_user_id.distinct()) >= config["CLAIM_BUYER_FLAG_SELLERS"])
        .order_by(CLAIMS.c.buyer_user_id)).all()
    places = _registered_county(set(sellers) | {row[0] for row in buyers}, scope)
    flags = [{"kind": "claim_rate", "county_adcode": places[seller][0], "county": places[seller][1],
              "seller_user_id": seller, "amount_fen": fen,
              "detail": f"{claims} claims accepted on {lines} lines delivered ({claims * 100 // lines} %) "
                        f"in the {config['CLAIM_REVIEW_DAYS']} days to {until:%Y-%m-%d}."}
             for seller, (claims, lines, fen) in sorted(sellers.items()) if seller in places]
    flags += [{"kind": "many_claims", "county_adcode": places[buyer][0], "county": places[buyer][1],
               "buyer_user_id": buyer, "amount_fen": int(fen),
               "detail": f"{count} claims against {seller_count} sellers in the {config['CLAIM_REVIEW_DAYS']} days "
                         f"to {until:%Y-%m-%d}."}
              for buyer, count, seller_count, fen in buyers if buyer in places]
    return flags
