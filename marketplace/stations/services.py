"""Station use cases: administrators open stations and assign partners; anyone lists active ones."""
from sqlalchemy import select

from marketplace.accounts import services as accounts
from marketplace.accounts.services import Role, User
from marketplace.common.pagination import Page, paginate
from marketplace.errors import InvalidInput, NotFound
from marketplace.extensions import db
from marketplace.geo import services as geo
from marketplace.stations.errors import StationErrorCode
from marketplace.stations.models import ServiceStation


class StationNotFound(NotFound):
    code = StationErrorCode.STATION_NOT_FOUND

    def __init__(self, station_id: int):
        super().__init__(f"No service station with id {station_id}.", details={"station_id": station_id})


def _partner(user_id: int):
    user = accounts.get_user(user_id)
    if not user.has_role(Role.PARTNER):
        raise InvalidInput(f"User {user_id} is not a partner; grant the partner role first.",
                           code=StationErrorCode.NOT_A_PARTNER, details={"partner_user_id": user_id})
    return user


def open_station(*, name: str, village_id: int, partner_user_id: int, address: str, phone: str) -> ServiceStation:
    village = geo.get_village(village_id)
    partner = _partner(partner_user_id)
    station = ServiceStation(name=name.strip(), village=village, partner=partner, address=address.strip(), phone=phone)
    db.session.add(station)
    db.session.commit()
    return station


def get_station(station_id: int, *, include_inactive: bool = False) -> ServiceStation:
    station = db.session.get(ServiceStation, station_id)
    if station is None or (not station.is_active and not include_inactive):
        raise StationNotFound(station_id)
    return station


def list_stations(*, viewer=None, county: str | None = None, include_inactive: bool = False,
                  page: int = 1, per_page: int = 20) -> Page:
    """Open stations; administrators may ask for closed ones too (others silently get open ones)."""
    include_inactive = include_inactive and viewer is not None and viewer.has_role(Role.ADMIN)
    query = select(ServiceStation).order_by(ServiceStation.id)
    if county:
        geo.get_county(county)
        query = query.where(ServiceStation.village.has(county_adcode=county))
    if not include_inactive:
        query = query.where(ServiceStation.is_active.is_(True))
    return paginate(query, page, per_page)


def update_station(station_id: int, **changes) -> ServiceStation:
    station = get_station(station_id, include_inactive=True)
    if "partner_user_id" in changes:
        station.partner = _partner(changes.pop("partner_user_id"))
    for name, value in changes.items():
        setattr(station, name, value.strip() if isinstance(value, str) else value)
    db.session.commit()
    return station


def partner_of(station_id: int) -> int | None:
    """The user id of the partner who runs a station (open or closed)."""
    return db.session.scalar(select(ServiceStation.partner_user_id).where(ServiceStation.id == station_id))


def stations_of(partner: User) -> list[ServiceStation]:
    """The stations a partner runs (open or closed), for the desk to choose from."""
    return list(db.session.scalars(select(ServiceStation).where(ServiceStation.partner_user_id == partner.id)
                                   .order_by(ServiceStation.id)))


def station_ids_of_partner(user_id: int) -> list[int]:
    return list(db.session.scalars(
        select(ServiceStation.id).where(ServiceStation.partner_user_id == user_id).order_by(ServiceStation.id)
    ))


def is_open(station_id: int) -> bool:
    return db.session.scalar(
        select(ServiceStation.id).where(ServiceStation.id == station_id, ServiceStation.is_active.is_(True))
    ) is not None
