"""A station's cash ledger: cash collected from buyers, paid back to them, and remitted to the
platform; the balance is what the station owes the platform."""
from dataclasses import dataclass

from sqlalchemy import func, select

from marketplace.accounts.services import Role, User
from marketplace.common.pagination import Page, paginate
from marketplace.errors import Conflict, Forbidden
from marketplace.extensions import db
from marketplace.stations.errors import StationErrorCode
from marketplace.stations.models import CashEntryKind, ServiceStation, StationCashEntry
from marketplace.stations.services import get_station


class NotStationPartner(Forbidden):
    code = StationErrorCode.NOT_STATION_PARTNER

    def __init__(self, station_id: int):
        super().__init__("You are not the partner of this station.", details={"station_id": station_id})


def require_partner(station_id: int, user: User, *, or_admin: bool = False) -> ServiceStation:
    station = get_station(station_id, include_inactive=True)
    if station.partner_user_id != user.id and not (or_admin and user.has_role(Role.ADMIN)):
        raise NotStationPartner(station_id)
    return station


def add_entry(station_id: int, kind: CashEntryKind, amount_fen: int, recorded_by: User, *,
              checkout_id: int | None = None, refund_id: int | None = None, reference: str | None = None,
              note: str | None = None) -> StationCashEntry:
    """One ledger entry, signed by kind: + collection, − refund, − remittance (the caller commits)."""
    entry = StationCashEntry(station_id=station_id, kind=kind,
                             amount_fen=amount_fen if kind == CashEntryKind.COLLECTION else -amount_fen,
                             checkout_id=checkout_id, refund_id=refund_id, reference=reference, note=note,
                             recorded_by_user_id=recorded_by.id)
    db.session.add(entry)
    return entry


def balance_fen(station_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(StationCashEntry.amount_fen), 0))
                             .where(StationCashEntry.station_id == station_id))


@dataclass
class CashLedger:
    station_id: int
    balance_fen: int
    entries: Page

    # The page's fields at the top level, beside the balance.
    items = property(lambda self: self.entries.items)
    page = property(lambda self: self.entries.page)
    per_page = property(lambda self: self.entries.per_page)
    total = property(lambda self: self.entries.total)


def cash_ledger(station_id: int, viewer: User, *, page: int = 1, per_page: int = 50) -> CashLedger:
    """The station's entries, newest first, and what it owes the platform (its partner, administrators)."""
    require_partner(station_id, viewer, or_admin=True)
    entries = paginate(select(StationCashEntry).where(StationCashEntry.station_id == station_id)
                       .order_by(StationCashEntry.id.desc()), page, per_page)
    return CashLedger(station_id, balance_fen(station_id), entries)


class RemittanceExceedsBalance(Conflict):
    code = StationErrorCode.REMITTANCE_EXCEEDS_BALANCE


def record_remittance(station_id: int, admin: User, *, amount_fen: int, reference: str,
                      note: str | None = None) -> StationCashEntry:
    """An administrator records cash the station handed over to the platform."""
    get_station(station_id, include_inactive=True)
    # Serialize remittances of one station so two at once cannot go below zero.
    db.session.execute(select(ServiceStation.id).where(ServiceStation.id == station_id).with_for_update())
    owed = balance_fen(station_id)
    if amount_fen > owed:
        raise RemittanceExceedsBalance(f"The remittance of {amount_fen} fen is more than the {owed} fen the station owes.",
                                       details={"amount_fen": amount_fen, "balance_fen": owed})
    entry = add_entry(station_id, CashEntryKind.REMITTANCE, amount_fen, admin, reference=reference.strip(), note=note)
    db.session.commit()
    return entry
