"""The error codes of service stations, their cash ledgers and their villagers, as clients see them."""
import enum


class StationErrorCode(enum.StrEnum):
    STATION_NOT_FOUND = "station_not_found"
    NOT_A_PARTNER = "not_a_partner"
    # A partner acting for a station they do not run (the orders' station view raises it too).
    NOT_STATION_PARTNER = "not_station_partner"
    REMITTANCE_EXCEEDS_BALANCE = "remittance_exceeds_balance"
    VILLAGER_NOT_FOUND = "villager_not_found"
    VILLAGER_REQUIRED = "villager_required"
    VILLAGER_TOO_LONG = "villager_too_long"
    CONSENT_REQUIRED = "consent_required"
