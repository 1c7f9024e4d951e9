"""Faker-backed builders: each sets only what a test does not care about."""
from datetime import datetime, timedelta

from faker import Faker

from marketplace.accounts import services as accounts
from marketplace.accounts.models import User
from marketplace.campaigns.models import Campaign, CampaignItem
from marketplace.catalog.models import Product
from marketplace.claims import services as claims
from marketplace.claims.models import Claim
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.flows import station_cash
from marketplace.geo.models import County, Province, Village
from marketplace.geo.provinces import PROVINCE_NAMES, province_adcode_of
from marketplace.orders import checkout as checkout_service
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order
from marketplace.payments import events
from marketplace.payments.models import PaymentIntent
from marketplace.stations.models import ServiceStation

PASSWORD = "correct-horse-9"
PAID_STATES = ("paid", "shipped", "at_station", "delivered", "completed")


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

    def official(self, scope: str | None = "652927", *roles: str, **overrides) -> User:
        """An official (with any other roles) whose reports cover this province or county code,
        granted by a new administrator; ``scope=None`` grants none."""
        user = self.user("official", *roles, **overrides)
        if scope is not None:
            if scope in PROVINCE_NAMES:
                if db.session.get(Province, scope) is None:
                    db.session.add(Province(adcode=scope, name=PROVINCE_NAMES[scope]))
                    db.session.flush()
            else:
                self.county(scope)
            accounts.update_user(user.id, report_scope=scope, acting_user_id=self.user("admin").id)
        return user

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

    def campaign(self, starts_at: datetime | None = None, ends_at: datetime | None = None, *,
                 admin: User | None = None, **overrides) -> Campaign:
        """A campaign (make_campaign): live from an hour ago for a day unless its window is given."""
        starts_at = starts_at or utcnow() - timedelta(hours=1)
        fields = {"name_zh": "双十一扶贫专场", "name_en": "Double 11 poverty-county session", "starts_at": starts_at,
                  "ends_at": ends_at or starts_at + timedelta(days=1), "poverty_counties_only": False,
                  "status": "active", "created_by_user_id": (admin or self.user("admin")).id}
        fields.update(overrides)
        campaign = Campaign(**fields)
        db.session.add(campaign)
        db.session.flush()
        return campaign

    def campaign_item(self, campaign: Campaign | None = None, product: Product | None = None, **overrides) -> CampaignItem:
        """A listing in a campaign (make_campaign_item): approved, at 80% of its price, the whole
        of its stock as the cap, 2 per buyer, unless overridden."""
        campaign = campaign or self.campaign()
        product = product or self.product()
        fields = {"campaign_price_fen": product.price_fen * 4 // 5, "stock_cap": product.stock_units,
                  "per_buyer_limit": 2, "units_sold": 0, "state": "approved", "starts_at": campaign.starts_at,
                  "ends_at": campaign.ends_at, "proposed_by_user_id": campaign.created_by_user_id}
        fields.update(overrides)
        item = CampaignItem(campaign_id=campaign.id, product_id=product.id, **fields)
        db.session.add(item)
        db.session.flush()
        return item

    make_campaign = campaign
    make_campaign_item = campaign_item

    def checkout(self, buyer: User | None = None, products: list[Product] | None = None, *, station=None,
                 status: str = "pending_payment", quantity: int = 1, quantities: list[int] | None = None,
                 payment_method: str = "card", placed_by: User | None = None):
        """A checkout placed through the service (to a station if given, else an address), its
        orders then put in ``status``. ``quantities`` gives each product its own quantity."""
        buyer = buyer or self.user("buyer")
        products = products or [self.product()]
        quantities = quantities or [quantity] * len(products)
        delivery = {"station_id": station.id} if station is not None else {"address": {
            "recipient": "张三", "phone": "13800138000", "county_adcode": products[0].origin_county_adcode,
            "detail": "人民路1号"}}
        # The checkout reads its listings alone: with real commits they must be committed first
        # (in the suite's rolled-back transaction this only releases a savepoint).
        db.session.commit()
        checkout, _ = checkout_service.place_checkout(
            buyer.id, lines=[{"product_id": p.id, "quantity": q} for p, q in zip(products, quantities, strict=True)],
            delivery=delivery,
            payment_method=payment_method, idempotency_key=f"builder-{self.fake.uuid4()}",
            placed_by_user_id=placed_by.id if placed_by is not None else None)
        checkout = db.session.get(Checkout, checkout.id)  # placed checkouts come back detached
        if status != "pending_payment":
            paid_at = utcnow() if status in PAID_STATES else None
            for order in checkout.orders:
                order.status, order.paid_at = status, paid_at
            checkout.status = status if status in ("paid", "expired", "cancelled") else "paid"
            checkout.paid_at = paid_at
            db.session.flush()
        return checkout

    def intent(self, checkout, **overrides) -> PaymentIntent:
        """The checkout's PaymentIntent as start_payment records it, without asking Stripe."""
        attempt = 1 + sum(1 for _ in db.session.query(PaymentIntent).filter_by(checkout_id=checkout.id))
        fields = {"checkout_id": checkout.id, "attempt": attempt, "stripe_id": f"pi_test_{checkout.id}_{attempt}",
                  "payment_method": checkout.payment_method, "amount_fen": orders.amount_due_fen(checkout),
                  "currency": "cny", "status": "requires_payment_method", **overrides}
        intent = PaymentIntent(**fields)
        db.session.add(intent)
        db.session.commit()
        return intent

    def stripe_event(self, intent, kind: str = "payment_intent.succeeded", **object_fields) -> dict:
        """A verified Stripe event about a PaymentIntent (as the webhook hands it to the service)."""
        status = {"payment_intent.succeeded": "succeeded", "payment_intent.canceled": "canceled"}.get(
            kind, "requires_payment_method")
        obj = {"id": intent.stripe_id, "object": "payment_intent", "amount": intent.amount_fen,
               "currency": intent.currency, "status": status, "metadata": {"checkout_id": str(intent.checkout_id)},
               **object_fields}
        return {"id": f"evt_{self.fake.uuid4()}", "type": kind, "data": {"object": obj}}

    def pay(self, checkout, note: str | None = None):
        """Pay a checkout the way production does: a Stripe success event for its intent."""
        events.apply_stripe_event(self.stripe_event(self.intent(checkout)))
        db.session.expire_all()
        return checkout

    def collect_cash(self, checkout):
        """Pay a cash checkout the way production does: its station's partner records the cash."""
        partner = db.session.get(ServiceStation, checkout.station_id).partner
        station_cash.record_cash_collection(checkout.id, partner, amount_fen=orders.amount_due_fen(checkout))
        db.session.expire_all()
        return checkout

    def delivered_order(self, buyer: User | None = None, products: list[Product] | None = None, *,
                        station: ServiceStation | None = None, payment_method: str = "card",
                        placed_by: User | None = None, delivered_at=None, quantity: int = 1) -> Order:
        """A paid order (paid as production does: a Stripe event, or the partner's cash) then marked
        shipped and delivered ``delivered_at`` (now by default); its first order if several."""
        checkout = self.checkout(buyer, products, station=station, payment_method=payment_method,
                                 placed_by=placed_by, quantity=quantity)
        if payment_method == "cash_at_station":
            self.collect_cash(checkout)
        else:
            self.pay(checkout)
        order = db.session.get(Order, checkout.orders[0].id)
        delivered_at = delivered_at or utcnow()
        order.status, order.shipped_at, order.delivered_at = "delivered", delivered_at, delivered_at
        db.session.commit()
        return order

    def claim(self, order: Order | None = None, *, line_index: int = 0, reason: str = "damaged",
              amount_fen: int | None = None, opened_by: User | None = None, **fields) -> Claim:
        """A claim opened through the service on a delivered line (a new delivered order by default),
        for the whole line unless ``amount_fen`` says less."""
        order = order or self.delivered_order()
        line = order.lines[line_index]
        opener = opened_by or db.session.get(User, order.buyer_user_id)
        return claims.open_claim(line.id, opener, reason=reason, description=fields.pop("description", "三个苹果烂了"),
                                 amount_fen=amount_fen or line.line_total_fen, **fields)
