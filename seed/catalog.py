"""Demo listings: realistic specialties of the reference counties, bulk-inserted."""
import random
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import func, insert, select

from marketplace.accounts.models import User, UserRole
from marketplace.catalog.models import Product
from marketplace.catalog.taxonomy import UNIT_GRAMS, ProductStatus
from marketplace.common.time import utcnow
from marketplace.extensions import db

# (county adcode, title stem, category, unit, net grams for box/bag/piece, price range in fen)
SPECIALTIES = [
    ("652901", "阿克苏冰糖心苹果", "fruit", "box", 5000, (4980, 12800)),
    ("652901", "阿克苏薄皮核桃", "nuts", "jin", None, (1890, 3980)),
    ("652901", "阿克苏骏枣", "dried_fruit", "bag", 1000, (2580, 6800)),
    ("652927", "乌什薄皮核桃", "nuts", "bag", 2500, (5980, 12800)),
    ("652927", "乌什沙棘果", "fruit", "jin", None, (1280, 2980)),
    ("610582", "华阴山核桃", "nuts", "jin", None, (2280, 4580)),
    ("610582", "华阴麦秆画", "textiles_handicrafts", "piece", None, (6800, 39800)),
    ("410122", "中牟大白蒜", "vegetables", "bag", 5000, (1990, 4590)),
    ("410122", "中牟西瓜", "fruit", "piece", 6000, (1990, 3990)),
    ("610629", "洛川红富士苹果", "fruit", "box", 5000, (3980, 9980)),
    ("610629", "洛川苹果脆片", "dried_fruit", "bag", 250, (990, 2490)),
    ("371721", "曹县纯棉四件套", "textiles_handicrafts", "piece", 2200, (12800, 49800)),
    ("371721", "曹县手工汉服", "textiles_handicrafts", "piece", None, (15800, 69800)),
    ("451228", "都安黑米", "grains_rice", "bag", 2500, (2980, 6980)),
    ("451228", "都安野生百花蜜", "honey", "jin", None, (4800, 9800)),
    ("520625", "印江梵净山翠峰茶", "tea", "box", 250, (8800, 29800)),
    ("520625", "印江红薯粉", "grains_rice", "bag", 1000, (1590, 3290)),
    ("331123", "遂昌菊米", "tea", "box", 200, (6800, 16800)),
    ("331123", "遂昌番薯干", "dried_fruit", "bag", 500, (1290, 2980)),
    ("610830", "清涧红枣", "dried_fruit", "bag", 2500, (2980, 7980)),
    ("610830", "清涧小米", "grains_rice", "bag", 2500, (1980, 4580)),
]
GRADES = ["特级", "一级", "精选", "农家", "新鲜", "产地直发", "2026新货"]
PACKS = ["", "家庭装", "礼盒装", "量贩装", "尝鲜装"]
CHUNK = 5000


def _sellers_by_county() -> dict[str, list[int]]:
    rows = db.session.execute(
        select(User.county_adcode, User.id).join(UserRole).where(UserRole.role == "seller").order_by(User.id)
    )
    sellers: dict[str, list[int]] = {}
    for county, user_id in rows:
        sellers.setdefault(county, []).append(user_id)
    return sellers


def seed_products(count: int, *, seed: int, say: Callable[[str], None] = print) -> int:
    """Top the catalog up to ``count`` listings by demo sellers; the same seed gives the same rows."""
    existing = db.session.scalar(select(func.count()).select_from(Product)) or 0
    wanted = count - existing
    if wanted <= 0:
        say(f"products: {existing} already, none added")
        return 0
    sellers = _sellers_by_county()
    offers = [s for s in SPECIALTIES if sellers.get(s[0])]
    if not offers:
        say("products: no sellers in the reference counties; run the account seed first")
        return 0
    rng = random.Random(seed * 1_000_003 + existing)
    now = utcnow()
    rows = []
    for number in range(wanted):
        county, stem, category, unit, grams, (low, high) = offers[number % len(offers)]
        price = rng.randrange(low, high + 1, 10)
        rows.append({
            "seller_user_id": rng.choice(sellers[county]),
            "title": f"{rng.choice(GRADES)}{stem}{rng.choice(PACKS)}",
            "description": f"{stem}，产地直供，{rng.randint(1, 3)}天内发货。",
            "category": category,
            "unit": unit,
            "net_weight_grams": UNIT_GRAMS.get(unit, grams),
            "price_fen": price,
            "stock_units": rng.choice([0, 5, 20, 50, 100, 300, 1000]),
            "min_order_units": 1,
            "origin_county_adcode": county,
            "harvest_date": date(2026, 9, 1) + timedelta(days=rng.randint(0, 80)),
            "ships_within_days": rng.randint(1, 5),
            "status": ProductStatus.ACTIVE if rng.random() < 0.9 else ProductStatus.PAUSED,
            "created_at": now - timedelta(minutes=wanted - number),
            "updated_at": now,
            "version": 1,
        })
        if len(rows) == CHUNK:
            db.session.execute(insert(Product), rows)
            rows.clear()
            say(f"  products {number + 1}/{wanted}")
    if rows:
        db.session.execute(insert(Product), rows)
    db.session.commit()
    # Fresh statistics, so the planner knows how many listings each county has.
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE products")
    say(f"products: {wanted} added")
    return wanted
