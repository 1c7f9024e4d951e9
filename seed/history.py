"""Two years of sales history for the reports: sellers in every county, buyers, listings, paid orders
and refunds with their sales-ledger rows, bulk-written with COPY and then rolled up.

What is generated, and what is not:
- every county of the registry gets one seller (poverty counties two, so they sell more per
  county) with two to four listings of its specialties; buyers scale with the history (at most
  100,000);
- every checkout is one order of one seller, paid online (a succeeded payment intent), with one
  to three lines and one ``sale`` ledger row per line on the Asia/Shanghai day it was paid;
- about 3 % of the lines are refunded through Stripe two to nine days later (a refund, its
  refund line and a ``refund`` ledger row); sales of the last nine days have no refunds yet;
- no order events, idempotency keys, seller settlement entries, station cash or ledger queue
  rows: the rollups are rebuilt from the ledger afterwards.

Daily volume follows the week (weekends sell more), grows about 60 % a year, dips over the Spring
Festival and peaks on 618 (18 June) and Double 11 (a ramp from 1 November to about nine normal
days' worth on the 11th). Ids continue after the largest id of each table, so history can be
added to a database that already has data (with the application stopped).

The demo's sales (``seed.sales``) use the same generator over a shorter window that ends now, in
the counties already registered.
"""
import contextvars
import random
import time
from bisect import bisect
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple

from flask import current_app
from sqlalchemy import Table, bindparam, func, select, text, update

from marketplace.accounts import services as accounts
from marketplace.accounts.models import User, UserRole
from marketplace.catalog.models import Product
from marketplace.catalog.taxonomy import UNIT_GRAMS, ProductStatus
from marketplace.common.time import BUSINESS_TZ, business_day, utcnow
from marketplace.extensions import db
from marketplace.geo import county_import
from marketplace.geo.models import County
from marketplace.orders.checkout import shipping_fee_fen
from marketplace.orders.lifecycle import OrderStatus
from marketplace.orders.models import Checkout, Order, OrderLine
from marketplace.payments.models import PaymentIntent, Refund, RefundLine
from marketplace.reports import rollup
from marketplace.reports.models import SalesLedgerEntry
from marketplace.stations.models import ServiceStation
from seed.demo import DEMO_PASSWORD

FULL_REGISTRY = 2846  # county-level units in the official list (counties_all.csv, 2024-12-31)
MAX_BUYERS = 100_000
REFUND_RATE = 0.03
REFUND_DELAY_DAYS = (2, 9)
YEARLY_GROWTH = 1.6
CHUNK_ROWS = 50_000  # ledger rows generated between two rounds of COPY
SELLER_PHONE_PREFIX = "1990"  # history accounts are known by their phone numbers: 1990 + 7 digits
BUYER_PHONE_PREFIX = "1991"
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# (stem, category, unit, net grams for box/bag/piece, price range in fen); titles add the county.
SPECIALTIES = [
    ("苹果", "fruit", "box", 5000, (3980, 9980)), ("猕猴桃", "fruit", "box", 3000, (3980, 8980)),
    ("脐橙", "fruit", "box", 5000, (3980, 8980)), ("酥梨", "fruit", "box", 5000, (2980, 6980)),
    ("葡萄", "fruit", "box", 2500, (3980, 9980)), ("核桃", "nuts", "jin", None, (1890, 3980)),
    ("板栗", "nuts", "jin", None, (990, 2480)), ("花生", "nuts", "jin", None, (690, 1590)),
    ("红枣", "dried_fruit", "bag", 1000, (2580, 6800)), ("柿饼", "dried_fruit", "bag", 1000, (2980, 6980)),
    ("葡萄干", "dried_fruit", "bag", 500, (1580, 3980)), ("小米", "grains_rice", "bag", 2500, (1980, 4580)),
    ("大米", "grains_rice", "bag", 5000, (2980, 7980)), ("黑米", "grains_rice", "bag", 2500, (2980, 6980)),
    ("荞麦面", "grains_rice", "bag", 1000, (990, 2480)), ("菜籽油", "grains_rice", "piece", 4500, (7980, 15800)),
    ("土豆", "vegetables", "bag", 5000, (1590, 3290)), ("大蒜", "vegetables", "bag", 2500, (1990, 4590)),
    ("山药", "vegetables", "box", 2500, (2980, 6980)), ("香菇", "mushrooms", "bag", 500, (2980, 6980)),
    ("黑木耳", "mushrooms", "bag", 250, (2980, 5980)), ("羊肚菌", "mushrooms", "box", 100, (9800, 29800)),
    ("绿茶", "tea", "box", 250, (6800, 26800)), ("红茶", "tea", "box", 250, (5800, 19800)),
    ("白茶", "tea", "box", 300, (8800, 29800)), ("土蜂蜜", "honey", "jin", None, (3800, 8800)),
    ("槐花蜜", "honey", "jin", None, (3800, 7800)), ("土鸡蛋", "meat_eggs", "box", 1500, (3980, 7980)),
    ("腊肉", "meat_eggs", "jin", None, (4980, 8980)), ("牛肉干", "meat_eggs", "bag", 500, (6980, 12800)),
    ("手工刺绣", "textiles_handicrafts", "piece", None, (9800, 39800)),
    ("竹编果篮", "textiles_handicrafts", "piece", None, (3980, 12800)),
    ("老粗布床单", "textiles_handicrafts", "piece", 1500, (12800, 29800)),
    ("辣椒酱", "other", "piece", 500, (1590, 3980)), ("红薯粉条", "other", "bag", 2500, (1990, 4590)),
]
SPECIALTY_WEIGHTS = {"fruit": 4, "grains_rice": 3, "nuts": 2, "dried_fruit": 2, "vegetables": 2}  # others 1.5
GRADES = ["", "特级", "一级", "精选", "农家", "新鲜", "产地直发"]
PACKS = ["", "家庭装", "礼盒装", "量贩装", "尝鲜装"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤"
GIVEN_NAMES = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国玉兰志强海燕红梅文斌小红建华春梅德胜凤英晓东雪梅"
ROADS = ["人民路", "建设路", "解放路", "中山路", "幸福街", "胜利街", "和平路", "新华街", "团结路", "文化路"]
CARRIERS = [("顺丰速运", "SF"), ("中通快递", "ZT"), ("圆通速递", "YT"), ("韵达快递", "YD"), ("邮政EMS", "EM"),
            ("京东物流", "JD")]
REFUND_REASONS = ["运输途中压坏", "与描述不符", "少发漏发", "不想要了", "质量问题", "发错规格"]
ETHNIC_GROUPS = ("蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 拉祜 水 东乡 纳西 "
                 "景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 "
                 "保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺 各").split()
PAYMENT_METHODS = (("alipay", 0.5), ("wechat_pay", 0.9), ("card", 1.0))  # cumulative shares of online payments
# Shanghai hour of day -> share of a day's payments (a lunch bump and a late-evening peak).
HOUR_WEIGHTS = [2.0, 1.0, 0.5, 0.3, 0.2, 0.3, 0.6, 1.2, 2.5, 3.5, 4.2, 4.5,
                4.0, 3.6, 3.8, 3.9, 3.8, 3.6, 3.5, 4.2, 5.2, 6.0, 5.5, 3.8]
WEEKDAY_FACTORS = (0.96, 0.94, 0.95, 0.98, 1.03, 1.10, 1.08)  # Monday first
SPRING_FESTIVAL = {2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29),
                   2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26),
                   2029: date(2029, 2, 13), 2030: date(2030, 2, 3)}

CHECKOUT_COLUMNS = ("id", "buyer_user_id", "payment_method", "delivery_kind", "station_id", "recipient_name",
                    "recipient_phone", "address_county_adcode", "address_detail", "items_total_fen",
                    "shipping_total_fen", "grand_total_fen", "currency", "status", "expires_at", "paid_at",
                    "created_at")
INTENT_COLUMNS = ("id", "checkout_id", "attempt", "stripe_id", "payment_method", "amount_fen", "currency", "status",
                  "succeeded_at", "created_at", "updated_at")
ORDER_COLUMNS = ("id", "checkout_id", "buyer_user_id", "seller_user_id", "station_id", "delivery_kind", "status",
                 "items_total_fen", "shipping_fee_fen", "total_fen", "carrier", "tracking_number", "paid_at",
                 "shipped_at", "delivered_at", "completed_at", "created_at", "updated_at")
LINE_COLUMNS = ("id", "order_id", "product_id", "seller_user_id", "title", "category", "unit", "net_weight_grams",
                "origin_county_adcode", "unit_price_fen", "quantity", "line_total_fen")
REFUND_COLUMNS = ("id", "order_id", "checkout_id", "method", "amount_fen", "status", "reason", "requested_by_user_id",
                  "payment_intent_id", "stripe_refund_id", "submitted_at", "created_at", "confirmed_at")
REFUND_LINE_COLUMNS = ("id", "refund_id", "order_line_id", "quantity", "amount_fen")
LEDGER_COLUMNS = ("id", "kind", "business_day", "occurred_at", "order_id", "order_line_id", "refund_id", "product_id",
                  "category", "origin_county_adcode", "seller_user_id", "buyer_user_id", "station_id", "units",
                  "amount_fen")
USER_COLUMNS = ("id", "phone", "display_name", "password_hash", "locale", "is_active", "county_adcode",
                "seller_verified_at", "created_at", "updated_at")
ROLE_COLUMNS = ("user_id", "role", "granted_at")
PRODUCT_COLUMNS = ("id", "seller_user_id", "title", "description", "category", "unit", "net_weight_grams", "price_fen",
                   "stock_units", "units_sold", "min_order_units", "origin_county_adcode", "harvest_date",
                   "ships_within_days", "status", "created_at", "updated_at", "version")
# Parents before children, so every foreign key already has its row.
ORDER_TABLES = ((Checkout, CHECKOUT_COLUMNS), (PaymentIntent, INTENT_COLUMNS), (Order, ORDER_COLUMNS),
                (OrderLine, LINE_COLUMNS), (Refund, REFUND_COLUMNS), (RefundLine, REFUND_LINE_COLUMNS),
                (SalesLedgerEntry, LEDGER_COLUMNS))
ANALYZED = ("users", "user_roles", "products", "checkouts", "payment_intents", "orders", "order_lines", "refunds",
            "refund_lines", "sales_ledger")


class Listing(NamedTuple):
    id: int
    seller_user_id: int
    title: str
    category: str
    unit: str
    net_weight_grams: int | None
    county: str
    price_fen: int


@dataclass
class Seller:
    user_id: int
    weight: float
    listings: list[Listing] = field(default_factory=list)


@dataclass
class Buyer:
    user_id: int
    name: str
    phone: str
    home_county: str
    station_id: int | None  # buyers who collect at a village station always do


@dataclass
class HistorySummary:
    rows: int = 0
    sellers: int = 0
    buyers: int = 0
    products: int = 0
    orders: int = 0
    refunds: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- the shape of two years


def history_days(end: date, start: date | None = None) -> list[date]:
    """The Asia/Shanghai days from ``start`` to ``end``; by default the two years that end on ``end``."""
    if start is None:
        try:
            start = end.replace(year=end.year - 2) + timedelta(days=1)
        except ValueError:  # 29 February
            start = end.replace(year=end.year - 2, day=28) + timedelta(days=1)
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def festival_factor(day: date) -> float:
    """How many normal days' worth a day sells: Double 11, 618, and the Spring Festival."""
    if day.month == 11 and day.day <= 13:
        return {11: 9.0, 12: 2.2, 13: 1.4}.get(day.day, 1.3 + 0.25 * (day.day - 1))  # 1.3 on the 1st, 3.55 on the 10th
    if day.month == 6 and day.day <= 19:
        return {18: 4.0, 19: 1.4}.get(day.day, 1.1 + 0.06 * (day.day - 1))
    festival = SPRING_FESTIVAL.get(day.year + 1 if day.month == 12 else day.year)
    if festival is not None:
        offset = (day - festival).days
        if -3 <= offset <= 6:
            return 0.45  # couriers and sellers go home
        if -21 <= offset < -3:
            return 1.3  # New Year goods
    return 1.0


def day_weights(days: list[date], rng: random.Random, last_day_share: float = 1.0) -> list[float]:
    """Each day's share of the sales; the last day sells ``last_day_share`` of a whole day (a history
    that ends now has sold only the hours of today gone by)."""
    first = days[0]
    weights = [WEEKDAY_FACTORS[day.weekday()] * YEARLY_GROWTH ** ((day - first).days / 365) * festival_factor(day)
               * rng.lognormvariate(0, 0.06) for day in days]
    weights[-1] *= last_day_share
    return weights


def share_of_day_gone(moment: datetime) -> float:
    """How much of its Shanghai day's sales lie before ``moment``, by the hours people pay in."""
    local = moment.astimezone(BUSINESS_TZ)
    hour, fraction = local.hour, (local.minute * 60 + local.second) / 3600
    return (sum(HOUR_WEIGHTS[:hour]) + HOUR_WEIGHTS[hour] * fraction) / sum(HOUR_WEIGHTS)


def split_exactly(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders), summing to ``total`` exactly."""
    scale = total / sum(weights)
    shares = [weight * scale for weight in weights]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: counts[i] - shares[i])
    for index in by_remainder[:total - sum(counts)]:
        counts[index] += 1
    return counts


def short_county_name(name: str) -> str:
    """The name a county's produce is sold under: 乌什县 -> 乌什, 都安瑶族自治县 -> 都安, 曹县 -> 曹县."""
    cut = min((name.find(group + "族") for group in ETHNIC_GROUPS if name.find(group + "族") >= 2), default=-1)
    if cut >= 2:
        return name[:cut]
    if name[-1] in "县市区旗" and len(name) > 2:
        return name[:-1]
    return name


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=BUSINESS_TZ).astimezone(UTC)


def _day_start_seconds(day: date) -> int:
    return int(_day_start(day).timestamp())


class _CopyText(dict):
    """Unix seconds as PostgreSQL reads a UTC timestamp in COPY: building it from the cached date
    costs about a third of making a datetime and having psycopg dump it."""

    def __missing__(self, day_number: int) -> str:
        text_of_day = self[day_number] = (UNIX_EPOCH + timedelta(days=day_number)).date().isoformat()
        return text_of_day

    def moment(self, seconds: int) -> str:
        day_number, rest = divmod(seconds, 86_400)
        return f"{self[day_number]} {rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}+00"


# ---------------------------------------------------------------- bulk writing


class BulkWriter:
    """Appends rows (tuples in column order) to a table with COPY, in the session's transaction.
    Ids are given by the caller, so sequences are moved afterwards."""

    def __init__(self, *, check_foreign_keys: bool = False):
        self.connection = db.session.connection()
        self.check_foreign_keys = check_foreign_keys
        self.written: set[str] = set()
        # What a timestamp column is given for a moment in Unix seconds.
        self.moment: Callable[[int], str] = _CopyText().moment

    def next_id(self, model) -> int:
        return (db.session.scalar(select(func.max(model.id))) or 0) + 1

    def write(self, table: Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        self.written.add(table.name)
        driver_connection = self.connection.connection.driver_connection
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    @contextmanager
    def foreign_keys_trusted(self, say: Callable[[str], None]) -> Iterator[None]:
        """As a superuser, skip the per-row foreign-key triggers while copying (what
        ``pg_restore --disable-triggers`` does): they cost two thirds of the load, and the history
        writes every parent before its children, which the tests prove by loading with the checks
        on (``check_foreign_keys``). CHECK constraints and unique indexes still hold each row."""
        if self.check_foreign_keys:
            yield
            return
        if self.connection.exec_driver_sql("SHOW is_superuser").scalar() != "on":
            say("history: not a superuser, so every row's foreign keys are checked (about three times slower)")
            yield
            return
        self.connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield
        # Not in a finally: after an error the transaction is rolled back, and the setting with it.
        self.connection.exec_driver_sql("SET LOCAL session_replication_role = origin")

    def move_sequences(self) -> None:
        """Let the application's next inserts continue after the ids written here."""
        for name in sorted(self.written):
            if name != "user_roles":
                self.connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))


# ---------------------------------------------------------------- counties, people and listings


def ensure_full_registry(say: Callable[[str], None]) -> bool:
    """History covers every county: import the official lists when the registry lacks some; says
    whether it did."""
    known = db.session.scalar(select(func.count()).select_from(County))
    if known >= FULL_REGISTRY:
        return False
    folder = Path(current_app.config["COUNTIES_DATA_DIR"])
    say(f"history: the registry has {known:,} of the {FULL_REGISTRY:,} counties; importing the official lists "
        f"from {folder}")
    county_import.import_counties((folder / "counties_all.csv").read_bytes(), "all", progress=say)
    # The official poverty list has rows without a current code (merged counties); they are skipped.
    report = county_import.import_counties((folder / "poverty_counties_832.csv").read_bytes(), "poverty",
                                           skip_bad_rows=True, progress=say)
    say(f"history: poverty list applied, {report.skipped} row(s) without a current county skipped")
    return True


class Population:
    """History sellers (with listings) and buyers: existing ones are found by their phone numbers,
    missing ones are created. Every value is drawn whether or not it is created, so the same seed
    gives the same people."""

    def __init__(self, writer: BulkWriter, rng: random.Random, first_day: date):
        self.writer = writer
        self.rng = rng
        self.first_day = first_day
        self.password_hash = accounts.hash_password(DEMO_PASSWORD)
        self.sellers: list[Seller] = []
        self.buyers: list[Buyer] = []
        self.created = {"sellers": 0, "buyers": 0, "products": 0}

    def _existing(self, prefix: str) -> dict[str, int]:
        return dict(db.session.execute(select(User.phone, User.id).where(User.phone.like(f"{prefix}%"))).all())

    def _name(self) -> str:
        rng = self.rng
        return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN_NAMES) for _ in range(rng.randint(1, 2)))

    def _new_user(self, users: list, roles: list, user_id: int, phone: str, name: str, role: str,
                  county: str | None, joined: datetime) -> None:
        verified = joined + timedelta(days=1) if role == "seller" else None
        users.append((user_id, phone, name, self.password_hash, "zh_CN", True, county, verified, joined, joined))
        roles.append((user_id, role, joined))

    def build(self, buyer_count: int, stations: list[int]) -> None:
        rng, writer = self.rng, self.writer
        counties = db.session.execute(
            select(County.adcode, County.name, County.is_national_poverty_county).order_by(County.adcode)).all()
        existing_sellers = self._existing(SELLER_PHONE_PREFIX)
        listings_of = defaultdict(list)
        for product in db.session.execute(
                select(Product.id, Product.seller_user_id, Product.title, Product.category, Product.unit,
                       Product.net_weight_grams, Product.origin_county_adcode, Product.price_fen)
                .where(Product.seller_user_id.in_(existing_sellers.values()), Product.status == ProductStatus.ACTIVE)
                .order_by(Product.id)):
            listings_of[product.seller_user_id].append(Listing(*product))
        specialty_weights = list(accumulate(SPECIALTY_WEIGHTS.get(spec[1], 1.5) for spec in SPECIALTIES))
        next_user, next_product = writer.next_id(User), writer.next_id(Product)
        users, roles, products = [], [], []
        number = 0
        for adcode, name, poverty in counties:
            short = short_county_name(name)
            specialties = {SPECIALTIES[bisect(specialty_weights, rng.random() * specialty_weights[-1])]
                           for _ in range(3)}
            for _ in range(2 if poverty else 1):
                phone = f"{SELLER_PHONE_PREFIX}{number:07d}"
                number += 1
                display_name = self._name()
                joined = _day_start(self.first_day) - timedelta(days=rng.randint(30, 400), seconds=rng.randrange(86400))
                # A few famous sellers sell a lot; a poverty county's two sellers sell 1.6 times one seller.
                weight = rng.lognormvariate(0, 0.6) * (0.8 if poverty else 1.0)
                drafts = [self._listing_draft(rng.choice(sorted(specialties)), short, name)
                          for _ in range(rng.randint(2, 4))]
                user_id = existing_sellers.get(phone)
                if user_id is None:
                    user_id, next_user = next_user, next_user + 1
                    self._new_user(users, roles, user_id, phone, display_name, "seller", adcode, joined)
                    self.created["sellers"] += 1
                    for title, description, category, unit, grams, price, stock, ships in drafts:
                        listing = Listing(next_product, user_id, title, category, unit, grams, adcode, price)
                        products.append((next_product, user_id, title, description, category, unit, grams, price,
                                         stock, 0, 1, adcode, None, ships, ProductStatus.ACTIVE.value, joined, joined,
                                         1))
                        listings_of[user_id].append(listing)
                        next_product += 1
                    self.created["products"] += len(drafts)
                if listings_of[user_id]:
                    self.sellers.append(Seller(user_id, weight, listings_of[user_id]))
        existing_buyers = self._existing(BUYER_PHONE_PREFIX)
        for number in range(buyer_count):
            phone = f"{BUYER_PHONE_PREFIX}{number:07d}"
            display_name = self._name()
            home = rng.choice(counties).adcode
            station = stations[rng.randrange(len(stations))] if stations and rng.random() < 0.12 else None
            joined = _day_start(self.first_day) - timedelta(days=rng.randint(1, 700), seconds=rng.randrange(86400))
            user_id = existing_buyers.get(phone)
            if user_id is None:
                user_id, next_user = next_user, next_user + 1
                self._new_user(users, roles, user_id, phone, display_name, "buyer", None, joined)
                self.created["buyers"] += 1
            self.buyers.append(Buyer(user_id, display_name, phone, home, station))
        writer.write(User.__table__, USER_COLUMNS, users)
        writer.write(UserRole.__table__, ROLE_COLUMNS, roles)
        writer.write(Product.__table__, PRODUCT_COLUMNS, products)

    def _listing_draft(self, specialty: tuple, short: str, county_name: str) -> tuple:
        rng = self.rng
        stem, category, unit, grams, (low, high) = specialty
        return (f"{rng.choice(GRADES)}{short}{stem}{rng.choice(PACKS)}",
                f"{county_name}{stem}，产地直发，{rng.randint(1, 3)}天内发货。", category, unit,
                UNIT_GRAMS.get(unit, grams), rng.randrange(low, high + 1, 10), rng.choice([50, 100, 300, 1000, 5000]),
                rng.randint(1, 5))


# ---------------------------------------------------------------- orders, refunds and the ledger


class OrderHistory:
    """Generates the days' orders, refunds and ledger rows in id order, in chunks of about
    CHUNK_ROWS ledger rows; a worker thread generates the next chunk while this one is written."""

    def __init__(self, writer: BulkWriter, rng: random.Random, population: Population, days: list[date],
                 say: Callable[[str], None], until: datetime | None = None):
        self.writer, self.rng, self.say = writer, rng, say
        self.sellers = population.sellers
        self.seller_weights = list(accumulate(seller.weight for seller in self.sellers))
        self.buyers = population.buyers
        self.days = days
        self.last_refundable = days[-1] - timedelta(days=REFUND_DELAY_DAYS[1])
        self.horizon = _day_start_seconds(days[-1] + timedelta(days=1))  # orders move no further than history
        if until is not None:  # a history that ends now: nothing of the last day happens after it
            self.horizon = min(self.horizon, int(until.timestamp()))
        self.last_day_seconds = self.horizon - _day_start_seconds(days[-1])
        self.ids = {model: writer.next_id(model) for model, _ in ORDER_TABLES}
        self.refunds_due: dict[date, list[tuple]] = defaultdict(list)
        self.units_sold: dict[int, int] = defaultdict(int)
        self.fees: dict[int, int] = {}  # shipping fee by goods total, so the checkout's rule is asked once per total
        config = current_app.config
        self.payment_ttl = config["ORDER_PAYMENT_TTL"]
        self.receipt_after = config["ORDER_AUTO_RECEIPT_DAYS"] * 86_400
        self.complete_after = config["ORDER_AUTO_COMPLETE_DAYS"] * 86_400
        self.orders = self.refunds = self.written = 0

    # -- planning: what is sold on a day, within its budget of ledger rows

    def _plan_day(self, day: date, budget: int) -> list[tuple]:
        """(seller, buyer, [(listing, units, units refunded)]) per order; each line and each refund is a ledger row."""
        random, sellers, weights = self.rng.random, self.sellers, self.seller_weights
        total_weight = weights[-1]
        buyers, buyer_count = self.buyers, len(self.buyers)
        refundable = day <= self.last_refundable
        plans = []
        while budget > 0:
            seller = sellers[bisect(weights, random() * total_weight)]
            listings = seller.listings
            offered = len(listings)
            draw = random()
            count = min(1 if draw < 0.5 else 2 if draw < 0.8 else 3, offered, budget)
            first = int(random() * offered)
            lines = []
            for offset in range(count):
                if budget == 0:
                    break
                draw = random()
                units = 1 if draw < 0.72 else 2 if draw < 0.9 else 3 + int(random() * 4)
                budget -= 1
                refunded = 0
                if refundable and budget > 0 and random() < REFUND_RATE:
                    refunded = units if random() < 0.7 else 1 + int(random() * units)
                    budget -= 1
                lines.append((listings[(first + offset) % offered], units, refunded))
            # Regular customers come back far more often than most.
            plans.append((seller, buyers[int(buyer_count * random() ** 1.3)], lines))
        return plans

    def _seconds(self, day: date, count: int) -> list[int]:
        """Payment times within the Shanghai day, sorted; Double 11 starts with a midnight rush."""
        weights = HOUR_WEIGHTS
        if day.month == 11 and day.day == 11:
            weights = [weight * boost for weight, boost in zip(HOUR_WEIGHTS, [12, 4] + [1] * 22, strict=True)]
        cumulative = list(accumulate(weights))
        random, total = self.rng.random, cumulative[-1]
        return self._before_horizon(day, sorted(bisect(cumulative, random() * total) * 3600 + int(random() * 3600)
                                                for _ in range(count)))

    def _before_horizon(self, day: date, seconds: list[int]) -> list[int]:
        """Seconds of the day, squeezed into the part of the last day that lies before the horizon."""
        if day != self.days[-1] or self.last_day_seconds >= 86_400:
            return seconds
        return [second * self.last_day_seconds // 86_400 for second in seconds]

    # -- the rows of a day (moments are Unix seconds until they are written)

    def _emit_day(self, day: date, plans: list[tuple], rows: dict) -> None:
        random, ids, fees, units_sold, at = self.rng.random, self.ids, self.fees, self.units_sold, self.writer.moment
        horizon, payment_ttl, receipt_after, complete_after = (
            self.horizon, self.payment_ttl, self.receipt_after, self.complete_after)
        checkouts, intents, orders, order_lines, ledger = (
            rows[Checkout], rows[PaymentIntent], rows[Order], rows[OrderLine], rows[SalesLedgerEntry])
        start = _day_start_seconds(day)
        discount = festival_factor(day) >= 4  # 618 and Double 11 prices
        checkout_id, intent_id, order_id, line_id, ledger_id = (
            ids[Checkout], ids[PaymentIntent], ids[Order], ids[OrderLine], ids[SalesLedgerEntry])
        for (seller, buyer, lines), second in zip(plans, self._seconds(day, len(plans)), strict=True):
            paid = start + second
            created = paid - 20 - int(random() * 880)
            paid_at = at(paid)
            station = buyer.station_id
            items_total = 0
            for listing, units, refunded in lines:
                price = listing.price_fen * 88 // 1000 * 10 if discount else listing.price_fen
                total = price * units
                items_total += total
                order_lines.append((line_id, order_id, listing.id, seller.user_id, listing.title, listing.category,
                                    listing.unit, listing.net_weight_grams, listing.county, price, units, total))
                ledger.append((ledger_id, "sale", day, paid_at, order_id, line_id, None, listing.id, listing.category,
                               listing.county, seller.user_id, buyer.user_id, station, units, total))
                units_sold[listing.id] += units
                if refunded:
                    delay = REFUND_DELAY_DAYS[0] + int(random() * (REFUND_DELAY_DAYS[1] - REFUND_DELAY_DAYS[0] + 1))
                    self.refunds_due[day + timedelta(days=delay)].append(
                        (order_id, checkout_id, intent_id, line_id, listing, seller.user_id, buyer.user_id, station,
                         refunded, refunded * price))
                line_id += 1
                ledger_id += 1
            fee = fees.get(items_total)
            if fee is None:
                fee = fees[items_total] = shipping_fee_fen(items_total)
            draw = random()
            method = next(name for name, share in PAYMENT_METHODS if draw < share)
            if station is None:
                delivery = ("address", None, buyer.name, buyer.phone, buyer.home_county,
                            f"{ROADS[int(random() * len(ROADS))]}{1 + int(random() * 300)}号")
            else:
                delivery = ("station", station, None, None, None, None)
            created_at = at(created)
            checkouts.append((checkout_id, buyer.user_id, method, *delivery, items_total, fee, items_total + fee,
                              "cny", "paid", at(created + payment_ttl), paid_at, created_at))
            intents.append((intent_id, checkout_id, 1, f"pi_hist_{checkout_id:010d}", method, items_total + fee, "cny",
                            "succeeded", paid_at, at(created + 5), paid_at))
            shipped = paid + 14_400 + int(random() * 158_400)  # 4 to 48 hours
            if station or random() < 0.8:
                delivered = shipped + 86_400 + int(random() * 259_200)  # 1 to 4 days
            else:
                delivered = shipped + receipt_after  # the buyer never confirmed receipt
            completed = delivered + complete_after
            if shipped > horizon:
                status, moved, carrier, tracking = OrderStatus.PAID.value, paid, None, None
            else:
                status, moved = ((OrderStatus.COMPLETED.value, completed) if completed <= horizon else
                                 (OrderStatus.DELIVERED.value, delivered) if delivered <= horizon else
                                 (OrderStatus.SHIPPED.value, shipped))
                carrier, prefix = CARRIERS[int(random() * len(CARRIERS))]
                tracking = f"{prefix}{order_id:012d}"
            orders.append((order_id, checkout_id, buyer.user_id, seller.user_id, station, delivery[0], status,
                           items_total, fee, items_total + fee, carrier, tracking, paid_at,
                           at(shipped) if shipped <= horizon else None, at(delivered) if delivered <= horizon else None,
                           at(completed) if completed <= horizon else None, created_at, at(moved)))
            checkout_id += 1
            intent_id += 1
            order_id += 1
        ids[Checkout], ids[PaymentIntent], ids[Order], ids[OrderLine], ids[SalesLedgerEntry] = (
            checkout_id, intent_id, order_id, line_id, ledger_id)
        self.orders += len(plans)
        self._emit_refunds(day, start, rows)

    def _emit_refunds(self, day: date, start: int, rows: dict) -> None:
        due = self.refunds_due.pop(day, [])
        random, ids, at = self.rng.random, self.ids, self.writer.moment
        seconds = self._before_horizon(day, sorted(8 * 3600 + int(random() * 16 * 3600) for _ in due))
        for (order_id, checkout_id, intent_id, line_id, listing, seller_id, buyer_id, station, units, amount), second \
                in zip(due, seconds, strict=True):
            confirmed = start + second
            asked = confirmed - 1800 - int(random() * 84_600)  # half an hour to a day before
            refund_id = ids[Refund]
            confirmed_at = at(confirmed)
            rows[Refund].append((refund_id, order_id, checkout_id, "stripe", amount, "succeeded",
                                 REFUND_REASONS[int(random() * len(REFUND_REASONS))], buyer_id, intent_id,
                                 f"re_hist_{refund_id:010d}", at(asked + 30), at(asked), confirmed_at))
            rows[RefundLine].append((ids[RefundLine], refund_id, line_id, units, amount))
            rows[SalesLedgerEntry].append((ids[SalesLedgerEntry], "refund", day, confirmed_at, order_id, line_id,
                                           refund_id, listing.id, listing.category, listing.county, seller_id,
                                           buyer_id, station, -units, -amount))
            ids[Refund] += 1
            ids[RefundLine] += 1
            ids[SalesLedgerEntry] += 1
        self.refunds += len(due)

    def chunks(self, budgets: list[int]) -> Iterator[dict]:
        """Rows by table, about CHUNK_ROWS ledger rows at a time, in the order of the days."""
        rows = {model: [] for model, _ in ORDER_TABLES}
        for day, budget in zip(self.days, budgets, strict=True):
            self._emit_day(day, self._plan_day(day, budget) if budget else [], rows)
            if len(rows[SalesLedgerEntry]) >= CHUNK_ROWS:
                yield rows
                rows = {model: [] for model, _ in ORDER_TABLES}
        yield rows

    def run(self, budgets: list[int]) -> None:
        total, began = sum(budgets), time.monotonic()
        next_step, last_said = 0.05, began
        for rows in _one_ahead(self.chunks(budgets)):
            for model, columns in ORDER_TABLES:
                self.writer.write(model.__table__, columns, rows[model])
            self.written += len(rows[SalesLedgerEntry])
            now = time.monotonic()
            if self.written >= next_step * total or now - last_said >= 30:
                self.say(f"history: {self.written:,} / {total:,} ledger rows ({self.written * 100 // total} %) "
                         f"{now - began:.0f} s")
                next_step = (self.written * 20 // total + 1) / 20
                last_said = now
        self._record_units_sold()

    def _record_units_sold(self) -> None:
        """Listings count the units of their orders (as checkouts move units_sold)."""
        products = Product.__table__
        statement = (update(products).where(products.c.id == bindparam("listing"))
                     .values(units_sold=products.c.units_sold + bindparam("units")))
        db.session.execute(statement, [{"listing": listing, "units": units}
                                       for listing, units in sorted(self.units_sold.items())])


def _one_ahead(items: Iterator) -> Iterator:
    """The items of ``items``, each next one computed in a worker thread (with this thread's
    application context) while the caller handles the current one: Python builds rows while
    PostgreSQL indexes the previous ones."""
    with ThreadPoolExecutor(max_workers=1) as worker:
        pending = worker.submit(contextvars.copy_context().run, next, items, None)
        while (item := pending.result()) is not None:
            pending = worker.submit(contextvars.copy_context().run, next, items, None)
            yield item


# ---------------------------------------------------------------- the use case


def seed_history(rows: int, *, end: date | None = None, start: date | None = None, until: datetime | None = None,
                 whole_registry: bool = True, seed: int = 2026, say: Callable[[str], None] = print,
                 check_foreign_keys: bool = False) -> HistorySummary:
    """Top the sales ledger up to ``rows`` rows of sales and refunds from ``start`` (default: two
    years before ``end``) to ``end`` (default: yesterday in Asia/Shanghai), then rebuild the rollups.
    ``until`` ends the history at a moment of its last day (a history that ends now); without it
    the last day is whole. ``whole_registry`` imports the official county lists first, so every
    county sells; without it, the counties already registered do. The same seed on the same
    database gives the same rows (with ``until``, the same rows up to that moment).
    ``check_foreign_keys`` keeps every row's foreign-key checks on, even for a superuser (slower;
    the tests load that way)."""
    summary = HistorySummary()
    began = time.monotonic()
    existing = db.session.scalar(select(func.count()).select_from(SalesLedgerEntry))
    wanted = rows - existing
    if wanted <= 0:
        say(f"history: the ledger already has {existing:,} rows, none added")
        return summary
    if whole_registry and ensure_full_registry(say):
        summary.seconds["counties"] = time.monotonic() - began
        say(f"history: counties imported in {summary.seconds['counties']:.1f} s")

    phase = time.monotonic()
    days = history_days(end or business_day(utcnow()) - timedelta(days=1), start)
    writer = BulkWriter(check_foreign_keys=check_foreign_keys)
    population = Population(writer, random.Random(seed), days[0])
    stations = list(db.session.scalars(select(ServiceStation.id).where(ServiceStation.is_active)
                                       .order_by(ServiceStation.id)))
    population.build(min(MAX_BUYERS, max(200, rows // 100)), stations)
    summary.sellers, summary.buyers, summary.products = (
        population.created["sellers"], population.created["buyers"], population.created["products"])
    summary.seconds["people and listings"] = time.monotonic() - phase
    say(f"history: {summary.sellers:,} sellers, {summary.buyers:,} buyers and {summary.products:,} listings added "
        f"({len(population.sellers):,} sellers in all) in {summary.seconds['people and listings']:.1f} s")

    phase = time.monotonic()
    rng = random.Random(seed * 1_000_003 + existing)
    say(f"history: {wanted:,} ledger rows from {days[0]} to {days[-1]} (Asia/Shanghai)")
    history = OrderHistory(writer, rng, population, days, say, until)
    last_day_share = share_of_day_gone(until) if until is not None and business_day(until) == days[-1] else 1.0
    with writer.foreign_keys_trusted(say):
        history.run(split_exactly(wanted, day_weights(days, rng, last_day_share)))
    writer.move_sequences()
    db.session.commit()
    summary.rows, summary.orders, summary.refunds = history.written, history.orders, history.refunds
    summary.seconds["orders and ledger"] = time.monotonic() - phase
    say(f"history: {summary.orders:,} orders, {summary.refunds:,} refunds, {summary.rows:,} ledger rows written "
        f"in {summary.seconds['orders and ledger']:.1f} s")

    phase = time.monotonic()
    db.session.execute(text(f"ANALYZE {', '.join(ANALYZED)}"))
    db.session.commit()
    summary.seconds["analyze"] = time.monotonic() - phase
    say(f"history: tables analyzed in {summary.seconds['analyze']:.1f} s")

    phase = time.monotonic()
    say("history: rebuilding the rollups from the whole ledger")
    rollup.rebuild()
    summary.seconds["rollups"] = time.monotonic() - phase
    say(f"history: rollups rebuilt from the whole ledger in {summary.seconds['rollups']:.1f} s "
        f"(total {time.monotonic() - began:.0f} s)")
    return summary
