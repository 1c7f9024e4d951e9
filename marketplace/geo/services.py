"""Reading the county registry and managing villages."""
from sqlalchemy import or_, select, text

from marketplace.common.pagination import Page, paginate
from marketplace.common.sql import contains_pattern
from marketplace.errors import Conflict, InvalidInput, NotFound
from marketplace.extensions import db
from marketplace.geo.errors import GeoErrorCode
from marketplace.geo.models import County, Province, Village
from marketplace.geo.provinces import PROVINCE_NAMES


class CountyNotFound(NotFound):
    code = GeoErrorCode.COUNTY_NOT_FOUND

    def __init__(self, adcode: str):
        super().__init__(f"No county with code {adcode} in the registry.", details={"adcode": adcode})


class VillageNotFound(NotFound):
    code = GeoErrorCode.VILLAGE_NOT_FOUND

    def __init__(self, village_id: int):
        super().__init__(f"No village with id {village_id}.", details={"village_id": village_id})


def _is_adcode(adcode: str) -> bool:
    return bool(adcode) and adcode.isdigit() and len(adcode) == 6


def get_county(adcode: str) -> County:
    county = db.session.get(County, adcode) if _is_adcode(adcode) else None
    if county is None:
        raise CountyNotFound(adcode)
    return county


_COUNTY_EXISTS = text("SELECT 1 FROM counties WHERE adcode = :adcode")


def require_county(adcode: str) -> None:
    """Raise CountyNotFound unless the registry holds the county; one indexed read, no object built."""
    if not _is_adcode(adcode) or db.session.execute(_COUNTY_EXISTS, {"adcode": adcode}).first() is None:
        raise CountyNotFound(adcode)


class ProvinceNotFound(NotFound):
    code = GeoErrorCode.PROVINCE_NOT_FOUND

    def __init__(self, adcode: str):
        super().__init__(f"No province with code {adcode} in the registry.", details={"adcode": adcode})


def get_province(adcode: str) -> Province:
    province = db.session.get(Province, adcode) if adcode and adcode.isdigit() and len(adcode) == 6 else None
    if province is None:
        raise ProvinceNotFound(adcode)
    return province


def _province_adcode(province: str) -> str:
    """Accept a province code (``650000``) or its name (``新疆维吾尔自治区``)."""
    if province in PROVINCE_NAMES:
        return province
    for code, name in PROVINCE_NAMES.items():
        if name == province:
            return code
    raise InvalidInput(
        f"Unknown province {province!r}: give its 6-digit code or full name.",
        code=GeoErrorCode.UNKNOWN_PROVINCE,
        details={"province": province},
    )


def list_counties(
    *,
    province: str | None = None,
    poverty: bool | None = None,
    demonstration: bool | None = None,
    name_contains: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    query = select(County).order_by(County.adcode)
    if province:
        query = query.where(County.province_adcode == _province_adcode(province))
    if poverty is not None:
        query = query.where(County.is_national_poverty_county.is_(poverty))
    if demonstration is not None:
        query = query.where(County.is_demonstration_county.is_(demonstration))
    if name_contains:
        pattern = contains_pattern(name_contains)
        query = query.where(or_(County.name.like(pattern, escape="\\"), County.prefecture_name.like(pattern, escape="\\")))
    return paginate(query, page, per_page)


def list_provinces() -> list[Province]:
    return list(db.session.scalars(select(Province).order_by(Province.adcode)))


def list_villages(county_adcode: str) -> list[Village]:
    get_county(county_adcode)
    return list(db.session.scalars(select(Village).where(Village.county_adcode == county_adcode).order_by(Village.name)))


def get_village(village_id: int) -> Village:
    village = db.session.get(Village, village_id)
    if village is None:
        raise VillageNotFound(village_id)
    return village


def add_village(county_adcode: str, name: str) -> Village:
    county = get_county(county_adcode)
    name = name.strip()
    existing = db.session.scalar(select(Village).where(Village.county_adcode == county.adcode, Village.name == name))
    if existing is not None:
        raise Conflict(f"{county.name} already has a village named {name}.", code=GeoErrorCode.VILLAGE_EXISTS,
                       details={"village_id": existing.id})
    village = Village(county_adcode=county.adcode, name=name)
    db.session.add(village)
    db.session.commit()
    return village
