"""`flask seed demo`: reference counties checked against the official lists, deterministic demo data."""
import csv

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User, UserRole
from marketplace.extensions import db
from marketplace.geo.models import County, Village
from marketplace.stations.models import ServiceStation
from seed import demo
from tests.conftest import SHARED_COUNTIES

# The ten counties the project brief sells from, by province and current official name.
BRIEF_COUNTIES = [
    ("新疆维吾尔自治区", "阿克苏市"), ("新疆维吾尔自治区", "乌什县"), ("陕西省", "华阴市"), ("河南省", "中牟县"),
    ("陕西省", "洛川县"), ("山东省", "曹县"), ("广西壮族自治区", "都安瑶族自治县"),
    ("贵州省", "印江土家族苗族自治县"), ("浙江省", "遂昌县"), ("陕西省", "清涧县"),
]


def official_rows(name: str) -> list[dict]:
    path = SHARED_COUNTIES / name
    if not path.is_file():
        pytest.fail(f"The official county file {path} is missing; these tests need ../shared/data/counties.")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def official_brief_counties() -> dict[str, tuple]:
    """adcode -> (name, province, prefecture, poverty flag, exit year), looked up in the official files by name."""
    by_name = {(row["province"], row["county"]): row for row in official_rows("counties_all.csv")}
    exit_years = {row["adcode"]: int(row["exit_year"]) for row in official_rows("poverty_counties_832.csv") if row["adcode"]}
    expected = {}
    for province, county in BRIEF_COUNTIES:
        row = by_name[(province, county)]
        code = row["adcode"]
        expected[code] = (county, province, row["prefecture"] or None, code in exit_years, exit_years.get(code))
    return expected


def seed_demo(app, *args: str):
    result = app.test_cli_runner().invoke(args=["seed", "demo", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def counts() -> dict[str, int]:
    """How many of each thing the seed makes exist now."""
    db.session.expire_all()
    by_role = dict(db.session.execute(select(UserRole.role, func.count()).group_by(UserRole.role)).all())
    return {
        "counties": db.session.scalar(select(func.count()).select_from(County)),
        "users": db.session.scalar(select(func.count()).select_from(User)),
        "villages": db.session.scalar(select(func.count()).select_from(Village)),
        "stations": db.session.scalar(select(func.count()).select_from(ServiceStation)),
        **{f"role:{role}": by_role.get(role, 0) for role in ("admin", "seller", "buyer", "partner", "official")},
    }


def phones() -> list[str]:
    return sorted(db.session.scalars(select(User.phone).where(User.phone.is_not(None))))  # villagers have none


def phones_of_a_rolled_back_seed(app, seed: int) -> list[str]:
    """Seed inside a savepoint, read the phone numbers, then undo it all."""
    connection = db.session.get_bind()
    db.session.remove()
    savepoint = connection.begin_nested()
    try:
        assert seed_demo(app, "--seed", str(seed), "--history", "0").exit_code == 0
        return phones()
    finally:
        db.session.remove()
        savepoint.rollback()


def test_seed_demo_loads_the_ten_brief_counties_as_the_official_lists_have_them(app):
    result = seed_demo(app, "--seed", "7")

    assert result.exit_code == 0, result.output
    seeded = {c.adcode: (c.name, c.province.name, c.prefecture_name, c.is_national_poverty_county, c.poverty_exit_year)
              for c in db.session.scalars(select(County))}
    assert seeded == official_brief_counties()
    assert not any(c.is_demonstration_county for c in db.session.scalars(select(County)))


def test_seed_demo_creates_accounts_of_every_role_villages_and_stations(app, client):
    result = seed_demo(app, "--seed", "7", "--history", "0")  # no sales: their sellers and villagers

    assert result.exit_code == 0, result.output
    made = counts()
    assert made["role:admin"] >= 1 and made["role:seller"] == 12 and made["role:partner"] == 5
    assert made["role:official"] == 1
    assert made["role:buyer"] == 30 + 5  # partners also buy on behalf of villagers
    assert made["villages"] >= 1 and made["stations"] == 5
    for station in db.session.scalars(select(ServiceStation)):
        assert station.is_active and station.partner.has_role("partner")
    for seller in db.session.scalars(select(User).join(UserRole).where(UserRole.role == "seller")):
        assert seller.county_adcode in official_brief_counties()
    login = client.post("/api/v1/auth/login", json={"identifier": demo.DEMO_ADMIN_PHONE, "password": demo.DEMO_PASSWORD})
    assert login.status_code == 200, login.json
    assert f"(password {demo.DEMO_PASSWORD}): admin {demo.DEMO_ADMIN_PHONE}" in result.output


def test_seeding_twice_creates_nothing_new(app):
    seed_demo(app, "--seed", "7", "--history", "0")
    first = counts()
    first_phones = phones()

    again = seed_demo(app, "--seed", "7", "--history", "0")

    assert again.exit_code == 0, again.output
    assert counts() == first
    assert phones() == first_phones
    assert ("Created: admins 0, sellers 0, buyers 0, partners 0, officials 0, villages 0, stations 0, products 0."
            in again.output)


def test_the_same_seed_gives_the_same_phone_numbers(app):
    first = phones_of_a_rolled_back_seed(app, 7)
    assert counts()["users"] == 0, "the first run must be undone before the second"

    second = phones_of_a_rolled_back_seed(app, 7)
    other_seed = phones_of_a_rolled_back_seed(app, 8)

    assert len(first) == 1 + 12 + 30 + 5 + 1
    assert second == first
    assert other_seed != first


def test_seed_if_empty_does_nothing_on_a_database_with_accounts(app, build):
    build.user("buyer")
    before = counts()

    result = seed_demo(app, "--seed", "7", "--if-empty")

    assert result.exit_code == 0, result.output
    assert "not seeding" in result.output
    assert counts() == before


def test_seed_if_empty_seeds_an_empty_database(app):
    result = seed_demo(app, "--seed", "7", "--if-empty")

    assert result.exit_code == 0, result.output
    assert counts()["stations"] == 5
