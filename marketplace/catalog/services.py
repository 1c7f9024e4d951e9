"""Catalog use cases: listing, editing, stock, images, review and browsing.

Rules:
- Only the seller who owns a listing, the station partner who listed it for a villager (its
  agent), or an administrator, may change it.
- A new listing, or a material edit of a listed one, by a seller who is not verified goes to
  ``pending_review``; verified sellers publish directly. Material: what the buyer is told about
  the goods (title, description, category, unit, weight, origin, harvest date, photos); price,
  minimum order and shipping time are not.
- Edits carry the version the seller last saw (If-Match); a stale one is refused, never merged.
- Stock moves by relative, conditional updates and never below zero.
"""
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import Select, select, update
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from marketplace.accounts import services as accounts
from marketplace.accounts.errors import AccountErrorCode
from marketplace.accounts.services import Role, User
from marketplace.catalog import images as image_pipeline
from marketplace.catalog import stock
from marketplace.catalog.errors import CatalogErrorCode
from marketplace.catalog.models import Product, ProductImage, ProductReview
from marketplace.catalog.taxonomy import MAX_IMAGES, SOLD_OUT, STOCK_UNITS_MAX, UNIT_GRAMS, ProductStatus, Unit
from marketplace.common import storage
from marketplace.common.pagination import Page, paginate
from marketplace.common.time import BUSINESS_TZ, utcnow
from marketplace.errors import AppError, Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from marketplace.extensions import db
from marketplace.geo import services as geo

MATERIAL_FIELDS = frozenset(
    {"title", "description", "category", "unit", "net_weight_grams", "origin_county_adcode", "origin_village_id", "harvest_date"}
)


# One query for a listing with its seller, origin and village, one more for its photos. The
# seller's roles are not needed to show a listing, so they load only if something asks.
DETAIL_LOADING = (
    joinedload(Product.seller).lazyload(User.role_rows),
    joinedload(Product.origin_county),
    joinedload(Product.origin_village),
    selectinload(Product.images),
)


class ProductNotFound(NotFound):
    code = CatalogErrorCode.PRODUCT_NOT_FOUND

    def __init__(self, product_id: int):
        super().__init__(f"No product with id {product_id}.", details={"product_id": product_id})


class PreconditionFailed(AppError):
    status = 412
    code = CatalogErrorCode.STALE_VERSION

    def __init__(self, current_etag: str):
        super().__init__("The listing changed since you read it; reload it and apply your change again.",
                         details={"current_etag": current_etag})


class PreconditionRequired(AppError):
    status = 428
    code = ErrorCode.PRECONDITION_REQUIRED

    def __init__(self):
        super().__init__("Send the listing's ETag in an If-Match header so a stale edit cannot overwrite a newer one.")


class IllegalStatusChange(Conflict):
    code = CatalogErrorCode.ILLEGAL_STATUS_CHANGE

    def __init__(self, product: Product, action: str):
        super().__init__(f"A listing that is {product.public_status} cannot be {action}.",
                         details={"status": product.public_status, "action": action})


def _is_admin(actor: User) -> bool:
    return actor.has_role(Role.ADMIN)


def _load(product_id: int) -> Product:
    product = db.session.get(Product, product_id, options=DETAIL_LOADING)
    if product is None:
        raise ProductNotFound(product_id)
    return product


def _is_agent(product: Product, actor: User) -> bool:
    """The partner who listed it for a villager, while they are still a partner."""
    return product.listed_by_user_id == actor.id and actor.has_role(Role.PARTNER)


def is_sellers_own(product: Product, actor: User) -> bool:
    """Whether the listing is the actor's to offer: they sell it, or listed it for a villager."""
    return product.seller_user_id == actor.id or _is_agent(product, actor)


def lock_listing(product_id: int, *, refresh: bool = True) -> None:
    """Lock a listing's row until the transaction ends, and (``refresh``) read it afresh: a
    campaign item checked against its price and stock, and a change of its price checked against
    its campaign items, then run one after the other, so neither decides on a price the other is
    changing. An edit locks without reading afresh: its version check must still see the version
    the editor saw."""
    query = select(Product).where(Product.id == product_id).with_for_update()
    db.session.scalars(query.execution_options(populate_existing=True) if refresh else query).one_or_none()


def _owned(product_id: int, actor: User) -> Product:
    product = _load(product_id)
    if product.seller_user_id != actor.id and not _is_agent(product, actor) and not _is_admin(actor):
        raise Forbidden("Only the seller of this listing, its agent or an administrator may change it.",
                        code=CatalogErrorCode.NOT_OWNER)
    return product


def _after_review_status(actor: User) -> str:
    """Where a submitted or materially edited listing goes."""
    if _is_admin(actor) or accounts.is_verified_seller(actor):
        return ProductStatus.ACTIVE
    return ProductStatus.PENDING_REVIEW


def _record(product: Product, decision: str, actor: User, reason: str | None = None) -> None:
    _versioned(product, db.session.flush)  # the record names the version it was made on
    db.session.add(ProductReview(product_id=product.id, decision=decision, reason=reason,
                                 actor_user_id=actor.id, product_version=product.version))


def _check_unit_and_weight(unit: str, net_weight_grams: int | None) -> int | None:
    fixed = UNIT_GRAMS.get(Unit(unit))
    if fixed is not None:
        if net_weight_grams not in (None, fixed):
            raise InvalidInput(f"A {unit} is always {fixed} g; leave net_weight_grams empty or set it to {fixed}.",
                               code=CatalogErrorCode.WEIGHT_CONTRADICTS_UNIT,
                               details={"net_weight_grams": [f"Must be {fixed} for {unit}."]})
        return fixed
    if unit in (Unit.BOX, Unit.BAG) and net_weight_grams is None:
        raise InvalidInput(f"Say how many grams one {unit} holds.", code=CatalogErrorCode.NET_WEIGHT_REQUIRED,
                           details={"net_weight_grams": [f"Required for unit {unit}."]})
    return net_weight_grams


def _check_origin(county_adcode: str, village_id: int | None) -> None:
    geo.get_county(county_adcode)
    if village_id is not None:
        village = geo.get_village(village_id)
        if village.county_adcode != county_adcode:
            raise InvalidInput(f"Village {village.name} is not in county {county_adcode}.",
                               code=CatalogErrorCode.VILLAGE_NOT_IN_COUNTY,
                               details={"origin_village_id": ["Must be a village of the origin county."]})


def create_product(actor: User, *, publish: bool = False, listed_by: User | None = None, photos: Sequence[bytes] = (),
                   **fields) -> Product:
    """List a product for ``actor``; ``listed_by`` is the station partner listing for a villager
    (the villager, ``actor``, stays the seller of record and goes through review like any
    unverified seller). ``photos`` are checked before anything is written: a bad one lists nothing."""
    if not actor.has_role(Role.SELLER):
        raise Forbidden("Only sellers can list products.", code=AccountErrorCode.NOT_A_SELLER)
    fields.setdefault("origin_county_adcode", actor.county_adcode)
    if not fields["origin_county_adcode"]:
        raise InvalidInput("Give origin_county_adcode: your account has no county.",
                           code=AccountErrorCode.COUNTY_REQUIRED)
    _check_origin(fields["origin_county_adcode"], fields.get("origin_village_id"))
    fields["net_weight_grams"] = _check_unit_and_weight(fields["unit"], fields.get("net_weight_grams"))
    processed = _processed_photos(photos, already=0)
    product = Product(seller=actor, listed_by_user_id=listed_by.id if listed_by else None, status=ProductStatus.DRAFT,
                      **fields)
    for photo in processed:
        _attach(product, photo)
    db.session.add(product)
    if publish:
        product.status = _after_review_status(actor)
        _record(product, "submitted", actor)
    db.session.commit()
    return product


def _check_version(product: Product, expected_version: int | None) -> None:
    if expected_version is None:
        raise PreconditionRequired()
    if expected_version != product.version:
        raise PreconditionFailed(product.etag)


def update_product(product_id: int, actor: User, expected_version: int | None, *, photos: Sequence[bytes] = (),
                   **changes) -> Product:
    """Apply a seller's edit if they saw the current version; material edits (new ``photos`` too)
    may need review again."""
    product = _owned(product_id, actor)
    _check_version(product, expected_version)
    changed = {name: value for name, value in changes.items() if getattr(product, name) != value}
    processed = _processed_photos(photos, already=len(product.images))
    if not changed and not processed:
        return product
    if "unit" in changed or "net_weight_grams" in changed:
        # A new unit needs its weight restated; it never inherits the old unit's weight.
        weight = changes.get("net_weight_grams", None if "unit" in changed else product.net_weight_grams)
        changed["net_weight_grams"] = _check_unit_and_weight(changed.get("unit", product.unit), weight)
    if "origin_county_adcode" in changed or "origin_village_id" in changed:
        _check_origin(changed.get("origin_county_adcode", product.origin_county_adcode),
                      changed.get("origin_village_id", product.origin_village_id))
    if "price_fen" in changed:
        lock_listing(product.id, refresh=False)  # against a campaign item being added at this moment
        _check_price_above_campaign(product.id, changed["price_fen"])
    for name, value in changed.items():
        setattr(product, name, value)
    for photo in processed:
        _attach(product, photo)
    if processed:
        product.updated_at = utcnow()  # a new photo is a new version of the listing
    if MATERIAL_FIELDS & changed.keys() or processed:
        _after_material_change(product, actor)
    _commit_versioned(product)
    return product


def _check_price_above_campaign(product_id: int, price_fen: int) -> None:
    """A listing in a campaign (approved, not ended) keeps its own price above the campaign price."""
    item = stock.campaign_price_floor(product_id)
    if item is not None and price_fen <= item.campaign_price_fen:
        raise Conflict(f"This listing is in a campaign at {item.campaign_price_fen} fen until "
                       f"{item.ends_at.astimezone(BUSINESS_TZ).isoformat()}; its own price must stay above that.",
                       code=CatalogErrorCode.PRICE_NOT_ABOVE_CAMPAIGN,
                       details={"campaign_item_id": item.id, "campaign_price_fen": item.campaign_price_fen,
                                "ends_at": item.ends_at.astimezone(BUSINESS_TZ).isoformat()})


def _after_material_change(product: Product, actor: User) -> None:
    """Back to review if the actor needs it; otherwise the status stays (a paused listing stays paused)."""
    needs_review = _after_review_status(actor) == ProductStatus.PENDING_REVIEW
    if product.status in (ProductStatus.ACTIVE, ProductStatus.PAUSED) and needs_review:
        product.status = ProductStatus.PENDING_REVIEW
        _record(product, "submitted", actor, "material edit")


def _versioned(product: Product, write) -> None:
    """Flush or commit; a concurrent write that bumped the version since we loaded it is a 412, not a 500."""
    try:
        write()
    except StaleDataError:
        db.session.rollback()
        raise PreconditionFailed(_load(product.id).etag) from None


def _commit_versioned(product: Product) -> None:
    _versioned(product, db.session.commit)


def submit_product(product_id: int, actor: User) -> Product:
    """Put a draft or rejected listing up for sale (through review unless verified)."""
    product = _owned(product_id, actor)
    if product.status not in (ProductStatus.DRAFT, ProductStatus.REJECTED):
        raise IllegalStatusChange(product, "submitted")
    product.status = _after_review_status(actor)
    product.review_note = None
    _record(product, "submitted", actor)
    _commit_versioned(product)
    return product


def _switch(product_id: int, actor: User, *, from_status: str, to_status: str, verb: str) -> Product:
    product = _owned(product_id, actor)
    if product.status != from_status:
        raise IllegalStatusChange(product, verb)
    product.status = to_status
    _commit_versioned(product)
    return product


def pause_product(product_id: int, actor: User) -> Product:
    return _switch(product_id, actor, from_status=ProductStatus.ACTIVE, to_status=ProductStatus.PAUSED, verb="paused")


def resume_product(product_id: int, actor: User) -> Product:
    """A paused listing was approved before it was paused, so it goes straight back on sale."""
    return _switch(product_id, actor, from_status=ProductStatus.PAUSED, to_status=ProductStatus.ACTIVE, verb="resumed")


def delete_draft(product_id: int, actor: User) -> None:
    """Drafts are deleted; anything that was ever offered stays on record and is paused instead."""
    product = _owned(product_id, actor)
    if product.status != ProductStatus.DRAFT:
        raise Conflict("Only drafts can be deleted; pause the listing to take it off sale.",
                       code=CatalogErrorCode.NOT_A_DRAFT, details={"status": product.public_status})
    db.session.delete(product)
    db.session.commit()


def adjust_stock(product_id: int, actor: User, delta: int) -> Product:
    product = _owned(product_id, actor)
    new_stock = Product.stock_units + delta
    moved = db.session.execute(
        update(Product)
        .where(Product.id == product.id, new_stock >= 0, new_stock <= STOCK_UNITS_MAX)
        .values(stock_units=new_stock)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved == 0:
        db.session.rollback()
        available = _load(product_id).stock_units
        raise Conflict(f"Stock is {available}; it cannot change by {delta}.", code=CatalogErrorCode.STOCK_OUT_OF_RANGE,
                       details={"stock_units": available, "delta": delta})
    db.session.commit()
    db.session.refresh(product)
    return product


def sellers_product(product_id: int, actor: User) -> Product:
    """A listing as the person who may change it sees it (its seller, agent or an administrator)."""
    return _owned(product_id, actor)


def _processed_photos(photos: Sequence[bytes], *, already: int) -> list[image_pipeline.ProcessedImage]:
    """Every photo through the image pipeline before anything is written (raises ImageRejected)."""
    if already + len(photos) > MAX_IMAGES:
        raise Conflict(f"A listing has at most {MAX_IMAGES} photos; remove one first.",
                       code=CatalogErrorCode.TOO_MANY_IMAGES,
                       details={"photos": already, "max": MAX_IMAGES})
    max_pixels = current_app.config["IMAGE_MAX_PIXELS"]
    return [image_pipeline.process_upload(content, max_pixels) for content in photos]


def _attach(product: Product, processed: image_pipeline.ProcessedImage) -> None:
    product.images.append(ProductImage(
        position=max((i.position for i in product.images), default=0) + 1,
        image_key=storage.save(processed.display, ".jpg"),
        thumbnail_key=storage.save(processed.thumbnail, ".jpg"),
        width=processed.width,
        height=processed.height,
    ))


def add_image(product_id: int, actor: User, content: bytes) -> Product:
    product = _owned(product_id, actor)
    _attach(product, _processed_photos([content], already=len(product.images))[0])
    _after_material_change(product, actor)
    product.updated_at = utcnow()  # a new photo is a new version of the listing
    _commit_versioned(product)
    return product


def remove_image(product_id: int, image_id: int, actor: User) -> Product:
    product = _owned(product_id, actor)
    image = next((i for i in product.images if i.id == image_id), None)
    if image is None:
        raise NotFound(f"Listing {product_id} has no photo {image_id}.", code=CatalogErrorCode.IMAGE_NOT_FOUND)
    product.images.remove(image)
    product.updated_at = utcnow()
    _commit_versioned(product)
    return product


def visible_product(product_id: int, viewer: User | None) -> Product:
    """A listing as the viewer may see it: the public sees active ones; owners and admins see all."""
    product = _load(product_id)
    if product.status == ProductStatus.ACTIVE:
        return product
    if viewer is not None and (viewer.id == product.seller_user_id or _is_agent(product, viewer) or _is_admin(viewer)):
        return product
    raise ProductNotFound(product_id)


def _status_filter(query: Select, status: str) -> Select:
    if status == SOLD_OUT:
        return query.where(Product.status == ProductStatus.ACTIVE, Product.stock_units == 0)
    if status == ProductStatus.ACTIVE:
        return query.where(Product.status == ProductStatus.ACTIVE, Product.stock_units > 0)
    return query.where(Product.status == status)


def list_seller_products(actor: User, *, status: str | None, page: int, per_page: int) -> Page:
    query = select(Product).where(Product.seller_user_id == actor.id).order_by(Product.id.desc())
    if status:
        query = _status_filter(query, status)
    return paginate(query, page, per_page)


def list_agent_products(agent: User, *, seller_ids: list[int] | None = None, page: int = 1, per_page: int = 20) -> Page:
    """Listings a station partner made for villagers, newest first (only these sellers' if given)."""
    query = select(Product).where(Product.listed_by_user_id == agent.id).order_by(Product.id.desc())
    if seller_ids is not None:
        query = query.where(Product.seller_user_id.in_(seller_ids or [-1]))
    return paginate(query, page, per_page)


def review_queue(*, page: int, per_page: int) -> Page:
    query = select(Product).where(Product.status == ProductStatus.PENDING_REVIEW).order_by(Product.updated_at, Product.id)
    return paginate(query, page, per_page)


def approve_product(product_id: int, admin: User) -> Product:
    product = _load(product_id)
    if product.status != ProductStatus.PENDING_REVIEW:
        raise IllegalStatusChange(product, "approved")
    product.status = ProductStatus.ACTIVE
    product.review_note = None
    _record(product, "approved", admin)
    _commit_versioned(product)
    return product


def reject_product(product_id: int, admin: User, reason: str) -> Product:
    product = _load(product_id)
    if product.status != ProductStatus.PENDING_REVIEW:
        raise IllegalStatusChange(product, "rejected")
    product.status = ProductStatus.REJECTED
    product.review_note = reason.strip()
    _record(product, "rejected", admin, product.review_note)
    _commit_versioned(product)
    return product


def review_history(product_id: int, actor: User) -> list[ProductReview]:
    _owned(product_id, actor)
    return list(db.session.scalars(
        select(ProductReview).where(ProductReview.product_id == product_id).order_by(ProductReview.id)
    ))
