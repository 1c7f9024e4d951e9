"""Faker-backed builders: each sets only what a test does not care about."""
from faker import Faker

from marketplace.accounts import services as accounts
from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.extensions import db
from marketplace.geo.models import County, Province, Village
from marketplace.orders import checkout as checkout_service
from marketplace.geo.provinces import PROVINCE_NAMES, province_adcode_of
from marketplace.stations.models import ServiceStation

PASSWORD = "correct-horse-9"


class Builders:
    def __init__(self, app):
        self.app = app
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(1234)

    def county(self, adcode: str = "652927", name: str | None = None, **overrides) -> County:
        """A registry county (and its province), created if missing."""
        county = db.session.get(County, adcode)
        if county is not None:
            return county
        province_code = province_adcode_of(adcode)
        if db.session.get(Province, province_code) is None:
            db.session.add(Province(adcode=province_code, name=PROVINCE_NAMES[province_code]))
        fields = {"is_national_poverty_county": False, "is_demonstration_county": False, **overrides}
        county = County(adcode=adcode, name=name or f"{self.fake.city_name()}县", province_adcode=province_code, **fields)
        db.session.add(county)
        db.session.flush()
        return county

    def user(self, *roles: str, password: str = PASSWORD, county: str | None = None, **overrides) -> User:
        roles = roles or ("buyer",)
        if county is not None:
            county = self.county(county).adcode
        elif {"seller", "partner"} & set(roles):
            county = self.county().adcode
        fields = {"phone": self.fake.unique.numerify("139########"), "display_name": self.fake.name()}
        fields.update(overrides)
        return accounts.create_account(password=password, roles=list(roles), county_adcode=county, **fields)

    def token(self, user: User, password: str = PASSWORD) -> str:
        plain, _ = accounts.log_in(user.phone or user.email, password)
        return plain

    def headers(self, *roles: str, **overrides) -> dict:
        """Authorization headers for a new user with these roles."""
        return {"Authorization": f"Bearer {self.token(self.user(*roles, **overrides))}"}

    def village(self, county: str = "652927", name: str | None = None) -> Village:
        self.county(county)
        village = Village(county_adcode=county, name=name or f"{self.fake.unique.last_name()}家{self.fake.unique.random_int(1, 99999)}村")
        db.session.add(village)
        db.session.flush()
        return village

    def station(self, partner: User | None = None, village: Village | None = None, **overrides) -> ServiceStation:
        partner = partner or self.user("partner")
        village = village or self.village()
        fields = {"name": f"{village.name}服务站", "address": "村委会旁", "phone": partner.phone or "0997-1234567"}
        fields.update(overrides)
        station = ServiceStation(village=village, partner=partner, **fields)
        db.session.add(station)
        db.session.flush()
        return station

    def product(self, seller: User | None = None, **overrides) -> Product:
        """A listing (active, 100 jin in stock unless overridden) by a new or given seller."""
        seller = seller or self.user("seller")
        fields = {
            "title": f"{self.fake.city_name()}冰糖心苹果", "category": "fruit", "unit": "jin", "net_weight_grams": 500,
            "price_fen": 1250, "stock_units": 100, "origin_county_adcode": seller.county_adcode, "status": "active",
        }
        fields.update(overrides)
        product = Product(seller=seller, **fields)
        db.session.add(product)
        db.session.flush()
        return product

    def checkout(self, buyer: User | None = None, products: list[Product] | None = None, *, station=None,
                 status: str = "pending_payment", quantity: int = 1, payment_method: str = "card"):
        """A checkout placed through the service (to a station if given, else an address), its
        orders then put in ``status``."""
        buyer = buyer or self.user("buyer")
        products = products or [self.product()]
        delivery = {"station_id": station.id} if station is not None else {"address": {
            "recipient": "张三", "phone": "13800138000", "county_adcode": products[0].origin_county_adcode,
            "detail": "人民路1号"}}
        checkout, _ = checkout_service.place_checkout(
            buyer, lines=[{"product_id": p.id, "quantity": quantity} for p in products], delivery=delivery,
            payment_method=payment_method, idempotency_key=f"builder-{self.fake.uuid4()}")
        if status != "pending_payment":
            for order in checkout.orders:
                order.status = status
            checkout.status = status if status in ("paid", "expired", "cancelled") else "paid"
            db.session.flush()
        return checkout
