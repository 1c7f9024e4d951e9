"""Villagers a station's partner acts for: registered once, with their consent, as accounts that
cannot log in (the flows of the station desk make them sellers and buyers of record)."""
from dataclasses import dataclass

from sqlalchemy import select

from marketplace.accounts import services as accounts
from marketplace.accounts.services import User
from marketplace.common.time import utcnow
from marketplace.errors import InvalidInput, NotFound
from marketplace.extensions import db
from marketplace.stations import cash
from marketplace.stations.errors import StationErrorCode
from marketplace.stations.models import ServiceStation, Villager

NAME_MAX, CONTACT_PHONE_MAX = 60, 20  # the columns users.display_name and villagers.contact_phone


class VillagerNotFound(NotFound):
    code = StationErrorCode.VILLAGER_NOT_FOUND

    def __init__(self, villager_id: int):
        super().__init__(f"Villager {villager_id} is not registered at this station.",
                         details={"villager_id": [f"No villager {villager_id} at this station."]})


class ConsentRequired(InvalidInput):
    code = StationErrorCode.CONSENT_REQUIRED

    def __init__(self):
        super().__init__("The villager must agree that the station lists and sells for them.",
                         details={"consent": ["Tick the box once the villager has agreed."]})


@dataclass
class VillagerChoice:
    """Who the partner acts for: a villager already registered at the station, or a new one."""

    villager_id: int | None = None
    name: str | None = None
    contact_phone: str | None = None


def list_villagers(station_id: int, partner: User) -> list[Villager]:
    cash.require_partner(station_id, partner)
    return list(db.session.scalars(select(Villager).where(Villager.station_id == station_id)
                                   .order_by(Villager.created_at.desc(), Villager.user_id.desc())))


def villager_ids(station_id: int) -> list[int]:
    return list(db.session.scalars(select(Villager.user_id).where(Villager.station_id == station_id)))


def villager_for(station: ServiceStation, partner: User, choice: VillagerChoice, *, consent: bool) -> User:
    """The chosen villager's account, or a new one registered now (flushed, not committed)."""
    if choice.villager_id is not None:
        villager = db.session.get(Villager, choice.villager_id)
        if villager is None or villager.station_id != station.id:
            raise VillagerNotFound(choice.villager_id)
        return villager.user
    if not (choice.name or "").strip():
        raise InvalidInput("Give the villager's name, or choose a registered villager.",
                           code=StationErrorCode.VILLAGER_REQUIRED,
                           details={"villager_name": ["Required for a new villager."]})
    if len(choice.name.strip()) > NAME_MAX or len((choice.contact_phone or "").strip()) > CONTACT_PHONE_MAX:
        raise InvalidInput(f"A villager's name has at most {NAME_MAX} characters, a phone at most {CONTACT_PHONE_MAX}.",
                           code=StationErrorCode.VILLAGER_TOO_LONG,
                           details={"villager_name": [f"At most {NAME_MAX} characters."]})
    if not consent:
        raise ConsentRequired()
    user = accounts.add_villager_account(display_name=choice.name, county_adcode=station.village.county_adcode)
    db.session.add(Villager(user_id=user.id, station_id=station.id, contact_phone=(choice.contact_phone or "").strip() or None,
                            consent_recorded_at=utcnow(), consent_recorded_by_user_id=partner.id))
    db.session.flush()
    return user
