"""Campaign use cases: administrators run campaigns and their items, sellers propose their listings,
everyone sees the campaigns on now and coming.

Rules:
- A campaign's window [starts_at, ends_at) ends after it starts; its start cannot move once it has
  started; a cancelled or ended campaign takes no items.
- An item's campaign price is a whole number of fen above 0 and below the listing's price; its
  stock cap is at least 1 and at most the listing's stock when set (each campaign unit sold also
  takes a unit of the listing's stock, by the checkout's take_stock); its per-buyer limit is at
  least 1. Both are checked again when a proposal is approved.
- Only active listings join; a poverty-counties-only campaign takes only listings from national
  poverty counties; a seller proposes only their own listings (or a partner those they listed).
- A listing is in at most one campaign whose window overlaps another's, counting pending and
  approved items: the database's exclusion constraint holds it, and the service names the
  campaign it is in.
- Sellers propose (pending); administrators approve or reject with a reason, or add directly
  (approved), and may remove an item; sellers may withdraw their pending proposals. Cancelling a
  campaign removes its items; units already sold stay sold.
"""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.services import User
from marketplace.campaigns.errors import CampaignErrorCode
from marketplace.campaigns.models import HOLDS_PLACE, Campaign, CampaignItem, CampaignStatus, ItemState
from marketplace.catalog import browse, stock
from marketplace.catalog import services as catalog
from marketplace.common.pagination import Page, paginate
from marketplace.common.time import utcnow
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.extensions import db
from marketplace.geo import services as geo

__all__ = ["Campaign", "CampaignItem", "CampaignStatus", "ItemState"]

# The exclusion constraint of migration 0017 (a listing in two overlapping campaigns).
ONE_CAMPAIGN_AT_A_TIME = "ex_campaign_items_one_campaign_at_a_time"


class CampaignNotFound(NotFound):
    code = CampaignErrorCode.CAMPAIGN_NOT_FOUND

    def __init__(self, campaign_id: int):
        super().__init__(f"No campaign with id {campaign_id}.", details={"campaign_id": campaign_id})


class CampaignItemNotFound(NotFound):
    code = CampaignErrorCode.CAMPAIGN_ITEM_NOT_FOUND

    def __init__(self, item_id: int):
        super().__init__(f"No campaign item with id {item_id}.", details={"item_id": item_id})


class ListingInOtherCampaign(Conflict):
    code = CampaignErrorCode.LISTING_IN_OTHER_CAMPAIGN

    def __init__(self, product_id: int | None, other: CampaignItem | None):
        details = {"product_id": product_id}
        if other is not None:
            details.update(campaign_id=other.campaign_id, item_id=other.id)
        super().__init__(f"{f'Listing {product_id}' if product_id else 'A listing'} is already in a campaign at that time.",
                         details=details)


def _now() -> datetime:
    return stock.price_moment()


def _check_window(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidInput("A campaign must end after it starts.", code=CampaignErrorCode.CAMPAIGN_WINDOW_INVALID,
                           details={"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()})


def _campaign(campaign_id: int, *, lock: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    campaign = db.session.scalars(query.with_for_update() if lock else query).one_or_none()
    if campaign is None:
        raise CampaignNotFound(campaign_id)
    return campaign


def _item(item_id: int) -> CampaignItem:
    item = db.session.scalars(select(CampaignItem).where(CampaignItem.id == item_id).with_for_update(of=CampaignItem)
                              .execution_options(populate_existing=True)).one_or_none()
    if item is None:
        raise CampaignItemNotFound(item_id)
    return item


def create_campaign(admin: User, *, name_zh: str, name_en: str, starts_at: datetime, ends_at: datetime,
                    poverty_counties_only: bool = False) -> Campaign:
    """A new campaign (no items yet)."""
    _check_window(starts_at, ends_at)
    campaign = Campaign(name_zh=name_zh, name_en=name_en, starts_at=starts_at, ends_at=ends_at,
                        poverty_counties_only=poverty_counties_only, status=CampaignStatus.ACTIVE,
                        created_by_user_id=admin.id)
    db.session.add(campaign)
    db.session.commit()
    return campaign


def update_campaign(campaign_id: int, admin: User, **fields) -> Campaign:
    """Rename a campaign, or move its window (its start only before it starts); its items' copies
    of the window move with it, and a move that would put a listing in two campaigns at once is
    refused."""
    campaign = _campaign(campaign_id, lock=True)
    if campaign.status == CampaignStatus.CANCELLED:
        raise Conflict("A cancelled campaign cannot be changed.", code=CampaignErrorCode.CAMPAIGN_CLOSED,
                       details={"campaign_id": campaign_id})
    starts_at, ends_at = fields.get("starts_at", campaign.starts_at), fields.get("ends_at", campaign.ends_at)
    _check_window(starts_at, ends_at)
    now = _now()
    if starts_at != campaign.starts_at and campaign.starts_at <= now:
        raise Conflict("The campaign has started; its start cannot move.",
                       code=CampaignErrorCode.CAMPAIGN_ALREADY_STARTED, details={"campaign_id": campaign_id})
    if ends_at != campaign.ends_at and campaign.ends_at <= now:
        raise Conflict("The campaign has ended; its window cannot move.", code=CampaignErrorCode.CAMPAIGN_CLOSED,
                       details={"campaign_id": campaign_id})
    if "poverty_counties_only" in fields and fields["poverty_counties_only"] != campaign.poverty_counties_only \
            and campaign.items:
        raise Conflict("Whether only poverty-county listings may join is set before listings join.",
                       code=CampaignErrorCode.CAMPAIGN_ALREADY_STARTED, details={"campaign_id": campaign_id})
    for name, value in fields.items():
        setattr(campaign, name, value)
    with db.session.no_autoflush:
        for item in campaign.items:
            item.starts_at, item.ends_at = starts_at, ends_at
        for item in campaign.items:
            other = _other_place(item) if item.state in HOLDS_PLACE else None
            if other is not None:
                db.session.rollback()
                raise ListingInOtherCampaign(item.product_id, other)
    _commit_items(None)
    return campaign


def cancel_campaign(campaign_id: int, admin: User) -> Campaign:
    """Cancel a campaign: its pending and approved items are removed (their listings' own prices
    apply again at once); orders already placed keep their campaign price."""
    campaign = _campaign(campaign_id, lock=True)
    if campaign.status != CampaignStatus.CANCELLED:
        campaign.status = CampaignStatus.CANCELLED
        for item in campaign.items:
            if item.state in HOLDS_PLACE:
                _decide(item, ItemState.REMOVED, admin)
    db.session.commit()
    return campaign


def get_campaign(campaign_id: int) -> Campaign:
    return _campaign(campaign_id)


def list_campaigns(*, status: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    """Campaigns, the latest start first (administrators)."""
    query = select(Campaign).order_by(Campaign.starts_at.desc(), Campaign.id.desc())
    if status:
        query = query.where(Campaign.status == status)
    return paginate(query, page, per_page)


def get_item(item_id: int) -> CampaignItem:
    item = db.session.get(CampaignItem, item_id)
    if item is None:
        raise CampaignItemNotFound(item_id)
    return item


def list_items(campaign_id: int, *, state: str | None = None) -> list[CampaignItem]:
    """A campaign's items in the order they were added (administrators)."""
    _campaign(campaign_id)
    query = select(CampaignItem).where(CampaignItem.campaign_id == campaign_id).order_by(CampaignItem.id)
    if state:
        query = query.where(CampaignItem.state == state)
    return list(db.session.scalars(query))


def _check_item(campaign: Campaign, product, *, campaign_price_fen: int, stock_cap: int) -> None:
    """The rules an item is held to when it is added, proposed or approved."""
    if campaign.status == CampaignStatus.CANCELLED or campaign.ends_at <= _now():
        raise Conflict("The campaign is cancelled or over; it takes no more listings.",
                       code=CampaignErrorCode.CAMPAIGN_CLOSED, details={"campaign_id": campaign.id})
    if product.status != catalog.ProductStatus.ACTIVE:
        raise Conflict(f"Listing {product.id} is not on sale.", code=CampaignErrorCode.LISTING_NOT_FOR_SALE,
                       details={"product_id": product.id, "status": product.status})
    if campaign_price_fen >= product.price_fen:
        raise InvalidInput(f"The campaign price must be below the listing's price of {product.price_fen} fen.",
                           code=CampaignErrorCode.CAMPAIGN_PRICE_NOT_BELOW_LISTING,
                           details={"campaign_price_fen": campaign_price_fen, "listing_price_fen": product.price_fen})
    if stock_cap > product.stock_units:
        raise InvalidInput(f"The stock cap is taken from the listing's stock; it has {product.stock_units}.",
                           code=CampaignErrorCode.STOCK_CAP_ABOVE_STOCK,
                           details={"stock_cap": stock_cap, "stock_units": product.stock_units})
    if campaign.poverty_counties_only and not geo.get_county(product.origin_county_adcode).is_national_poverty_county:
        raise InvalidInput("This campaign takes only listings from national poverty counties.",
                           code=CampaignErrorCode.NOT_POVERTY_COUNTY,
                           details={"product_id": product.id, "county_adcode": product.origin_county_adcode})


def _other_place(item: CampaignItem) -> CampaignItem | None:
    """The listing's item in another campaign whose window overlaps ``item``'s, if any."""
    return db.session.scalars(select(CampaignItem).where(
        CampaignItem.product_id == item.product_id, CampaignItem.id != item.id,
        CampaignItem.state.in_(HOLDS_PLACE), CampaignItem.starts_at < item.ends_at,
        CampaignItem.ends_at > item.starts_at)).first()


def _commit_items(item: CampaignItem | None) -> None:
    """Commit; the exclusion constraint refusing a listing in two overlapping campaigns becomes
    ListingInOtherCampaign (a concurrent add the service's own look did not see)."""
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        if ONE_CAMPAIGN_AT_A_TIME not in str(error.orig):
            raise
        raise ListingInOtherCampaign(item.product_id if item else None, None) from None


def _new_item(campaign_id: int, actor: User, state: ItemState, *, product_id: int, campaign_price_fen: int,
              stock_cap: int, per_buyer_limit: int) -> CampaignItem:
    campaign = _campaign(campaign_id)
    product = catalog.visible_product(product_id, actor)
    if state == ItemState.PENDING and not catalog.is_sellers_own(product, actor):
        raise Forbidden("You may propose only your own listings.", code=CampaignErrorCode.NOT_LISTING_OWNER,
                        details={"product_id": product_id})
    catalog.lock_listing(product.id)  # its price and stock hold until the item is written
    _check_item(campaign, product, campaign_price_fen=campaign_price_fen, stock_cap=stock_cap)
    now = utcnow()
    item = CampaignItem(campaign_id=campaign.id, product_id=product.id, campaign_price_fen=campaign_price_fen,
                        stock_cap=stock_cap, per_buyer_limit=per_buyer_limit, units_sold=0, state=state,
                        starts_at=campaign.starts_at, ends_at=campaign.ends_at, proposed_by_user_id=actor.id,
                        decided_by_user_id=actor.id if state == ItemState.APPROVED else None,
                        decided_at=now if state == ItemState.APPROVED else None)
    other = _other_place(item)
    if other is not None:
        raise ListingInOtherCampaign(product.id, other)
    db.session.add(item)
    _commit_items(item)
    return item


def add_item(campaign_id: int, admin: User, *, product_id: int, campaign_price_fen: int, stock_cap: int,
             per_buyer_limit: int) -> CampaignItem:
    """An administrator puts a listing in a campaign, approved."""
    return _new_item(campaign_id, admin, ItemState.APPROVED, product_id=product_id,
                     campaign_price_fen=campaign_price_fen, stock_cap=stock_cap, per_buyer_limit=per_buyer_limit)


def propose_item(campaign_id: int, seller: User, *, product_id: int, campaign_price_fen: int, stock_cap: int,
                 per_buyer_limit: int) -> CampaignItem:
    """A seller proposes their own listing for a campaign (pending an administrator's decision)."""
    return _new_item(campaign_id, seller, ItemState.PENDING, product_id=product_id,
                     campaign_price_fen=campaign_price_fen, stock_cap=stock_cap, per_buyer_limit=per_buyer_limit)


def _decide(item: CampaignItem, state: ItemState, actor: User, reason: str | None = None) -> None:
    item.state, item.reject_reason = state, reason
    item.decided_by_user_id, item.decided_at = actor.id, utcnow()


def _require_pending(item: CampaignItem) -> None:
    if item.state != ItemState.PENDING:
        raise Conflict(f"The item is {item.state}, not pending.", code=CampaignErrorCode.ITEM_NOT_PENDING,
                       details={"item_id": item.id, "state": item.state})


def approve_item(item_id: int, admin: User) -> CampaignItem:
    """Approve a pending proposal, its price and cap checked again against the listing as it is now."""
    item = _item(item_id)
    _require_pending(item)
    catalog.lock_listing(item.product_id)  # its price and stock hold until the approval is written
    _check_item(item.campaign, item.product, campaign_price_fen=item.campaign_price_fen, stock_cap=item.stock_cap)
    _decide(item, ItemState.APPROVED, admin)
    _commit_items(item)
    return item


def update_item(item_id: int, admin: User, *, campaign_price_fen: int | None = None, stock_cap: int | None = None,
                per_buyer_limit: int | None = None) -> CampaignItem:
    """Change a pending or approved item (administrators): its campaign price before its campaign
    starts (still below the listing's), its stock cap (at least the units it has sold, at most
    those and the listing's stock left), its per-buyer limit (what buyers already have stays
    theirs; past a lowered limit they may buy no more)."""
    catalog.lock_listing(get_item(item_id).product_id)  # the listing's row before the item's, as every sale takes them
    item = _item(item_id)
    product, campaign = item.product, item.campaign
    if item.state not in HOLDS_PLACE:
        raise Conflict(f"The item is {item.state}; only pending and approved items can change.",
                       code=CampaignErrorCode.ITEM_NOT_PENDING, details={"item_id": item.id, "state": item.state})
    if campaign.status == CampaignStatus.CANCELLED or campaign.ends_at <= _now():
        raise Conflict("The campaign is cancelled or over.", code=CampaignErrorCode.CAMPAIGN_CLOSED,
                       details={"campaign_id": campaign.id})
    if campaign_price_fen is not None and campaign_price_fen != item.campaign_price_fen:
        if campaign.starts_at <= _now():
            raise Conflict("The campaign has started; its prices cannot change.",
                           code=CampaignErrorCode.CAMPAIGN_ALREADY_STARTED, details={"campaign_id": campaign.id})
        if campaign_price_fen >= product.price_fen:
            raise InvalidInput(f"The campaign price must be below the listing's price of {product.price_fen} fen.",
                               code=CampaignErrorCode.CAMPAIGN_PRICE_NOT_BELOW_LISTING,
                               details={"campaign_price_fen": campaign_price_fen,
                                        "listing_price_fen": product.price_fen})
        item.campaign_price_fen = campaign_price_fen
    if stock_cap is not None and stock_cap != item.stock_cap:
        if stock_cap < item.units_sold:
            raise InvalidInput(f"The item has sold {item.units_sold} units; its cap cannot be lower.",
                               code=CampaignErrorCode.STOCK_CAP_BELOW_SOLD,
                               details={"stock_cap": stock_cap, "units_sold": item.units_sold})
        if stock_cap > item.units_sold + product.stock_units:
            raise InvalidInput(f"The stock cap is taken from the listing's stock; it has {product.stock_units} "
                               f"left beside the {item.units_sold} sold in the campaign.",
                               code=CampaignErrorCode.STOCK_CAP_ABOVE_STOCK,
                               details={"stock_cap": stock_cap, "stock_units": product.stock_units,
                                        "units_sold": item.units_sold})
        item.stock_cap = stock_cap
    if per_buyer_limit is not None:
        item.per_buyer_limit = per_buyer_limit
    db.session.commit()
    return item


def reject_item(item_id: int, admin: User, reason: str) -> CampaignItem:
    """Reject a pending proposal with the reason its seller is shown."""
    item = _item(item_id)
    _require_pending(item)
    _decide(item, ItemState.REJECTED, admin, reason)
    db.session.commit()
    return item


def remove_item(item_id: int, admin: User) -> CampaignItem:
    """Take a pending or approved item out of its campaign; units already sold stay sold."""
    item = _item(item_id)
    if item.state not in HOLDS_PLACE:
        raise Conflict(f"The item is {item.state} already.", code=CampaignErrorCode.ITEM_NOT_PENDING,
                       details={"item_id": item.id, "state": item.state})
    _decide(item, ItemState.REMOVED, admin)
    db.session.commit()
    return item


def withdraw_item(item_id: int, seller: User) -> CampaignItem:
    """A seller withdraws their own pending proposal."""
    item = _item(item_id)
    if not catalog.is_sellers_own(item.product, seller):
        raise CampaignItemNotFound(item_id)
    _require_pending(item)
    _decide(item, ItemState.WITHDRAWN, seller)
    db.session.commit()
    return item


def list_own_proposals(seller: User, *, state: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    """The items of the seller's listings (or of those they listed for villagers), newest first."""
    query = (select(CampaignItem).join(CampaignItem.product)
             .where((catalog.Product.seller_user_id == seller.id) | (catalog.Product.listed_by_user_id == seller.id))
             .order_by(CampaignItem.id.desc()))
    if state:
        query = query.where(CampaignItem.state == state)
    return paginate(query, page, per_page)


def public_campaigns(now: datetime | None = None) -> list[dict]:
    """Campaigns on now or still to come (not cancelled), the soonest first, each with its approved
    listings as the catalog prices them (ProductSummaryOut, with its campaign)."""
    now = now or _now()
    campaigns = list(db.session.scalars(
        select(Campaign).where(Campaign.status == CampaignStatus.ACTIVE, Campaign.ends_at > now)
        .order_by(Campaign.starts_at, Campaign.id).limit(50)))
    product_ids = {campaign.id: [item.product_id for item in campaign.items if item.state == ItemState.APPROVED]
                   for campaign in campaigns}
    listings = browse.summaries_by_id([pid for ids in product_ids.values() for pid in ids], now=now)
    return [{"campaign": campaign, "live": campaign.starts_at <= now,
             "listings": [listings[pid] for pid in product_ids[campaign.id] if pid in listings]}
            for campaign in campaigns]

