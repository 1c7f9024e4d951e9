"""The campaign part of a sale, as plain SQL beside the checkout's: the buyer's allowance and the
campaign units taken in the checkout's one statement, given back when an order's stock goes back,
taken again for a late payment.

The rule lives once, on the server, in two functions of migration 0017, called like
catalog.stock's take_stock inside the statement that writes the checkout: take_campaign_allowance
before take_stock, take_campaign_units after it. Per item in ascending id order, the first raises
the buyer's allowance by a conditional upsert only within the per-buyer limit; the second raises
units_sold only within the cap (and, at the checkout's moment, only for an approved item that is
live at the price the buyer was shown). Any refusal raises SQLSTATE MPCMP, so the whole checkout
statement is undone and nothing is left behind. Both counters are single rows updated under their
row locks, so many checkouts at once (one buyer on several devices, or many buyers) queue on them
and never pass the cap or the limit.

Every path takes the rows in one order, the buyer's allowance, then the listing's stock, then the
campaign item, so none can deadlock another. A buyer's second checkout at a campaign's opening
waits on their own allowance row, behind their first, and is refused there: it never joins the
queue on the listing's row that every sale of the campaign passes through.

A checkout without campaign lines runs the checkout's statement without the campaign parts
(orders.checkout._INSERT_CHECKOUT): no round trip, no row, no byte added.

When an order's stock goes back (expired, cancelled), its campaign units and the buyer's
allowance go back with it. A refund does not give back either: the units were sold and delivered,
and the limit counts what a buyer bought in the campaign, not what they kept.
"""
import json
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from marketplace.campaigns.errors import CampaignErrorCode
from marketplace.common.sql import write_in_session
from marketplace.common.time import BUSINESS_TZ
from marketplace.errors import AppError, Conflict

REFUSED_SQLSTATE = "MPCMP"
TAKE_ALLOWANCE_CALL = ("take_campaign_allowance(CAST(:campaign_item_ids AS integer[]),"
                       " CAST(:campaign_units AS integer[]), :buyer_user_id)")
TAKE_CAMPAIGN_CALL = ("take_campaign_units(CAST(:campaign_item_ids AS integer[]), CAST(:campaign_units AS integer[]),"
                      " CAST(:campaign_prices_fen AS integer[]), CAST(:campaign_at AS timestamptz))")


class CampaignNotStarted(Conflict):
    code = CampaignErrorCode.CAMPAIGN_NOT_STARTED

    def __init__(self, product_id: int, title: str, opens_at: datetime):
        opens = opens_at.astimezone(BUSINESS_TZ).isoformat()
        super().__init__(f"{title} is in a campaign that opens at {opens}; it cannot be ordered before then.",
                         details={"product_id": product_id, "opens_at": opens})


class CampaignSoldOut(Conflict):
    code = CampaignErrorCode.CAMPAIGN_SOLD_OUT

    def __init__(self, product_id: int, title: str, units_left: int, wanted: int):
        super().__init__(f"{title}: {units_left} campaign units left, {wanted} wanted. Nothing was ordered.",
                         details={"product_id": product_id, "units_left": units_left, "requested_units": wanted})


class CampaignLimitReached(Conflict):
    code = CampaignErrorCode.CAMPAIGN_LIMIT_REACHED

    def __init__(self, product_id: int, title: str, limit: int, already_bought: int | None, wanted: int):
        already = "" if already_bought is None else f", you already have {already_bought}"
        super().__init__(f"{title}: at most {limit} per buyer in this campaign{already}. Nothing was ordered.",
                         details={"product_id": product_id, "limit": limit, "already_bought": already_bought,
                                  "requested_units": wanted})


class CampaignEnded(Conflict):
    code = CampaignErrorCode.CAMPAIGN_ENDED

    def __init__(self, product_id: int, title: str):
        super().__init__(f"The campaign price of {title} no longer applies; look at the listing again.",
                         details={"product_id": product_id})


def check_offer(offer, quantity: int) -> None:
    """Refuse, before anything is written, a campaign line that cannot be bought as read
    (catalog.stock.offers_by_id's row): its campaign has not started, too few campaign units are
    left, or more than the per-buyer limit is asked for at once. What others bought meanwhile is
    take_campaign_units' to decide."""
    if offer.campaign_item_id is None:
        return
    if not offer.campaign_live:
        raise CampaignNotStarted(offer.id, offer.title, offer.campaign_starts_at)
    if quantity > offer.campaign_per_buyer_limit:
        raise CampaignLimitReached(offer.id, offer.title, offer.campaign_per_buyer_limit, None, quantity)
    if offer.campaign_units_left < quantity:
        raise CampaignSoldOut(offer.id, offer.title, offer.campaign_units_left, quantity)


def take_campaign_params(lines: dict[int, tuple[int, int]], at: datetime | None) -> dict:
    """The bind parameters of TAKE_ALLOWANCE_CALL and TAKE_CAMPAIGN_CALL for the campaign lines of a cart
    ({campaign_item_id: (units, unit price shown)}), checked live at ``at`` (None: a late payment,
    which checks only the cap and the limit). :buyer_user_id is the caller's."""
    ordered = sorted(lines)
    return {"campaign_item_ids": ordered, "campaign_units": [lines[item][0] for item in ordered],
            "campaign_prices_fen": [lines[item][1] for item in ordered], "campaign_at": at}


def refusal(error: DBAPIError) -> dict[int, dict] | None:
    """{campaign_item_id: why} if ``error`` is take_campaign_units refusing lines, else None. Each
    why has a reason (not_started with opens_at, sold_out with units_left, limit_reached with
    limit and already_bought, ended)."""
    if getattr(error.orig, "sqlstate", None) != REFUSED_SQLSTATE:
        return None
    return {int(item_id): why for item_id, why in json.loads(error.orig.diag.message_detail).items()}


def refusal_error(refused: dict[int, dict], lines: dict[int, tuple[int, int, str, int]]) -> AppError:
    """The error for the first refused item, by item id ({item_id: (product_id, wanted, title)} of the cart)."""
    item_id = min(refused)
    why = refused[item_id]
    product_id, wanted, title = lines[item_id][:3]
    if why["reason"] == "not_started":
        return CampaignNotStarted(product_id, title, datetime.fromisoformat(why["opens_at"]))
    if why["reason"] == "sold_out":
        return CampaignSoldOut(product_id, title, why["units_left"], wanted)
    if why["reason"] == "limit_reached":
        return CampaignLimitReached(product_id, title, why["limit"], why["already_bought"], wanted)
    return CampaignEnded(product_id, title)


_RELEASE_ALLOWANCE = text("""
UPDATE campaign_allowances a SET units = a.units - back.units
FROM unnest(CAST(:item_ids AS integer[]), CAST(:units AS integer[])) AS back(item_id, units)
WHERE a.campaign_item_id = back.item_id AND a.buyer_user_id = :buyer_user_id
RETURNING a.campaign_item_id
""")
_RELEASE_UNITS = text("""
UPDATE campaign_items ci SET units_sold = ci.units_sold - back.units
FROM unnest(CAST(:item_ids AS integer[]), CAST(:units AS integer[])) AS back(item_id, units)
WHERE ci.id = back.item_id
RETURNING ci.id
""")


def _release_params(units_by_item: dict[int, int]) -> dict:
    ordered = sorted(units_by_item)
    return {"item_ids": ordered, "units": [units_by_item[item] for item in ordered]}


def release_allowance(buyer_user_id: int, units_by_item: dict[int, int]) -> None:
    """Give back the buyer's allowance of an order whose stock goes back (expired or cancelled),
    in the caller's transaction, before its listings' stock (the order every sale takes them in)."""
    if units_by_item:
        write_in_session(_RELEASE_ALLOWANCE, {**_release_params(units_by_item), "buyer_user_id": buyer_user_id})


def release_units(units_by_item: dict[int, int]) -> None:
    """Give back the campaign units of that order, in the caller's transaction, after its
    listings' stock."""
    if units_by_item:
        write_in_session(_RELEASE_UNITS, _release_params(units_by_item))


_RETAKE_ALLOWANCE = text(f"SELECT {TAKE_ALLOWANCE_CALL}")
_RETAKE_UNITS = text(f"SELECT {TAKE_CAMPAIGN_CALL}")


def _retake(statement, params: dict) -> bool:
    try:
        write_in_session(statement, params)
    except DBAPIError as error:
        if refusal(error) is None:
            raise
        return False
    return True


def retake_allowance(buyer_user_id: int, units_by_item: dict[int, tuple[int, int]]) -> bool:
    """Take the buyer's allowance again for an expired order paid late ({item_id: (units, unit
    price sold at)}), within the limit, before its listings' stock; False, and the caller rolls
    back its savepoint, when the limit is reached."""
    return not units_by_item or _retake(
        _RETAKE_ALLOWANCE, {**take_campaign_params(units_by_item, None), "buyer_user_id": buyer_user_id})


def retake_units(units_by_item: dict[int, tuple[int, int]]) -> bool:
    """Take the campaign units again for that order, within the cap only (the window and the price
    were checked when it was placed), after its listings' stock; False, and the caller rolls back
    its savepoint, when they are gone."""
    return not units_by_item or _retake(_RETAKE_UNITS, take_campaign_params(units_by_item, None))
