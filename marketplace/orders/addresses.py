"""A buyer's address book: the addresses they deliver to, last used first.

The checkout saves the address of every checkout it delivers to an address (in its own
statement, orders/checkout.py); a buyer may also save and delete addresses here. The same
address again (same recipient, phone, county and detail) is one entry that moves to the front.
"""
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from marketplace.common.time import utcnow
from marketplace.errors import AppError, InvalidInput, NotFound
from marketplace.extensions import db
from marketplace.geo import services as geo
from marketplace.orders.errors import OrderErrorCode
from marketplace.orders.models import DeliveryAddress

# What the checkout page offers again; older entries stay until deleted.
SHOWN_ADDRESSES = 10


class AddressNotFound(NotFound):
    code = OrderErrorCode.ADDRESS_NOT_FOUND

    def __init__(self, address_id: int):
        super().__init__(f"You have no saved address with id {address_id}.", details={"address_id": address_id})


class UnknownCounty(InvalidInput):
    code = OrderErrorCode.UNKNOWN_COUNTY

    def __init__(self, adcode: str):
        super().__init__(f"Unknown county {adcode} in the address.", details={"county_adcode": adcode})


def refuse_unknown_county(adcode: str) -> None:
    """After the database refused an address: raise UnknownCounty if its county is why."""
    try:
        geo.require_county(adcode)
    except AppError:
        raise UnknownCounty(adcode) from None


def list_addresses(user_id: int, limit: int = SHOWN_ADDRESSES) -> list[DeliveryAddress]:
    return list(db.session.scalars(
        select(DeliveryAddress).where(DeliveryAddress.user_id == user_id)
        .order_by(DeliveryAddress.last_used_at.desc(), DeliveryAddress.id.desc()).limit(limit)))


def get_address(user_id: int, address_id: int) -> DeliveryAddress:
    address = db.session.get(DeliveryAddress, address_id)
    if address is None or address.user_id != user_id:
        raise AddressNotFound(address_id)
    return address


def save_address(user_id: int, *, recipient_name: str, recipient_phone: str, county_adcode: str,
                 detail: str) -> DeliveryAddress:
    """Save an address (or move the same one to the front); an unknown county is refused."""
    statement = insert(DeliveryAddress).values(
        user_id=user_id, recipient_name=recipient_name, recipient_phone=recipient_phone,
        county_adcode=county_adcode, detail=detail, last_used_at=utcnow())
    statement = statement.on_conflict_do_update(
        constraint="uq_delivery_addresses_same_address", set_={"last_used_at": statement.excluded.last_used_at},
    ).returning(DeliveryAddress.id)
    try:
        address_id = db.session.scalar(statement)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        refuse_unknown_county(county_adcode)
        raise
    return db.session.get(DeliveryAddress, address_id, populate_existing=True)


def delete_address(user_id: int, address_id: int) -> None:
    deleted = db.session.execute(delete(DeliveryAddress).where(
        DeliveryAddress.id == address_id, DeliveryAddress.user_id == user_id)).rowcount
    if not deleted:
        db.session.rollback()
        raise AddressNotFound(address_id)
    db.session.commit()
