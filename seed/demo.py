"""Deterministic demo data: reference counties, accounts of every role, villages and stations."""
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker
from sqlalchemy import select

from marketplace.accounts import services as accounts
from marketplace.accounts.models import User, UserRole
from marketplace.extensions import db
from marketplace.geo import county_import
from marketplace.geo import services as geo
from marketplace.geo.models import Village
from marketplace.stations import services as stations
from marketplace.stations.models import ServiceStation

SEED_DIR = Path(__file__).resolve().parent
DEMO_PASSWORD = "demo-pass-2026"
DEMO_ADMIN_PHONE = "13800000000"
REFERENCE_ADCODES = ["652901", "652927", "610582", "410122", "610629", "371721", "451228", "520625", "331123", "610830"]
# Sellers go round the reference counties starting with Wushi, a national poverty county, so the
# first seller (the one the README and the closing message show) sells poverty-alleviation produce.
SELLER_ADCODES = REFERENCE_ADCODES[1:] + REFERENCE_ADCODES[:1]
OFFICIAL_SCOPE = "650000"  # the demo official reads Xinjiang's reports: Aksu city and Wushi, a poverty county


@dataclass
class DemoSummary:
    created: dict[str, int] = field(default_factory=lambda: {"admins": 0, "sellers": 0, "buyers": 0, "partners": 0,
                                                             "officials": 0, "villages": 0, "stations": 0})


def load_reference_counties(say: Callable[[str], None]) -> None:
    """The ten brief counties, through the same importer as the official lists."""
    county_import.import_counties((SEED_DIR / "reference_counties.csv").read_bytes(), "all", progress=say)
    county_import.import_counties((SEED_DIR / "reference_poverty_counties.csv").read_bytes(), "poverty", progress=say)


def sample_logins() -> dict[str, str]:
    """One demo phone number per role, for the README and the seed's closing message."""
    logins = {}
    for role in ("admin", "seller", "buyer", "partner", "official"):
        phone = db.session.scalar(
            select(User.phone).join(User.role_rows).where(UserRole.role == role, User.phone.is_not(None)).order_by(User.id)
        )
        if phone:
            logins[role] = phone
    return logins


def is_empty() -> bool:
    return db.session.scalar(select(User.id).limit(1)) is None


def _account(fake: Faker, summary: DemoSummary, kind: str, roles: list[str], county: str | None) -> User:
    # Draw every fake value before deciding whether to create, so a re-run draws the same sequence.
    phone = fake.unique.numerify("13#########")
    display_name = fake.name()
    existing = db.session.scalar(select(User).where(User.phone == phone))
    if existing is not None:
        return existing
    summary.created[kind] += 1
    return accounts.create_account(display_name=display_name, password=DEMO_PASSWORD, roles=roles,
                                   phone=phone, county_adcode=county)


def _village(fake: Faker, summary: DemoSummary, county: str) -> Village:
    name = f"{fake.last_name()}家{fake.random_element(['村', '庄村', '沟村', '坪村'])}"
    for village in geo.list_villages(county):
        if village.name == name:
            return village
    summary.created["villages"] += 1
    return geo.add_village(county, name)


def seed_demo(*, seed: int = 2026, sellers: int = 12, buyers: int = 30, stations_count: int = 5,
              say: Callable[[str], None] = print) -> DemoSummary:
    """Create demo data; the same seed gives the same data, and re-running adds nothing."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    summary = DemoSummary()
    load_reference_counties(say)
    if db.session.scalar(select(User).where(User.phone == DEMO_ADMIN_PHONE)) is None:
        accounts.create_account(display_name="演示管理员", password=DEMO_PASSWORD, roles=["admin"], phone=DEMO_ADMIN_PHONE)
        summary.created["admins"] += 1
    for number in range(sellers):
        _account(fake, summary, "sellers", ["seller"], SELLER_ADCODES[number % len(SELLER_ADCODES)])
    say(f"sellers: {sellers}")
    for _ in range(buyers):
        _account(fake, summary, "buyers", ["buyer"], None)
    say(f"buyers: {buyers}")
    for number in range(stations_count):
        county = REFERENCE_ADCODES[number % len(REFERENCE_ADCODES)]
        partner = _account(fake, summary, "partners", ["partner", "buyer"], county)
        village = _village(fake, summary, county)
        # Not Faker's building_number: zh_CN gives some with Latin letters ("S座").
        building_number = fake.random_int(1, 299)
        if db.session.scalar(select(ServiceStation.id).where(ServiceStation.partner_user_id == partner.id)) is None:
            stations.open_station(name=f"{village.name}村级服务站", village_id=village.id, partner_user_id=partner.id,
                                  address=f"{village.county.name}{village.name}{building_number}号",
                                  phone=partner.phone)
            summary.created["stations"] += 1
    say(f"stations: {stations_count}")
    _official(fake, summary)
    return summary


def _official(fake: Faker, summary: DemoSummary) -> None:
    """A commerce bureau official who reads the reports of one province (their report scope)."""
    official = _account(fake, summary, "officials", ["official"], None)
    if official.report_scope is None:
        admin = db.session.scalar(select(User).where(User.phone == DEMO_ADMIN_PHONE))
        accounts.update_user(official.id, report_scope=OFFICIAL_SCOPE, acting_user_id=admin.id)
