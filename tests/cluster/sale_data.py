"""The cluster test's shop: buyers with bearer tokens, a verified seller, a flash product and a steady one.

Runs in a child process with the cluster's own environment (production config, the cluster's
database), so that the test's process, whose sessions are bound to the test database, never
writes there: ``python -m tests.cluster.sale_data SPEC_JSON OUT_JSON``.
"""
import json
import secrets
import sys
from pathlib import Path

SELLER_PHONE = "17299990000"
BUYER_PHONE_PREFIX = "172"  # 172xxxxxxxx; the demo seed's numbers start with 13
COUNTY = "652927"  # 乌什县, one of the demo seed's reference counties
PASSWORD = "cluster-pass-2026"


def prepare(spec: dict) -> dict:
    from sqlalchemy import insert

    from marketplace import create_app
    from marketplace.accounts import services as accounts
    from marketplace.accounts.models import ApiToken, User, UserRole
    from marketplace.catalog import services as catalog
    from marketplace.catalog.taxonomy import ProductStatus
    from marketplace.common.time import utcnow
    from marketplace.extensions import db

    app = create_app()
    with app.app_context():
        seller = accounts.create_account(display_name="集群测试卖家", password=PASSWORD, roles=["seller"],
                                         phone=SELLER_PHONE, county_adcode=COUNTY)
        seller.seller_verified_at = utcnow()  # verified sellers publish without review
        db.session.commit()
        seller_token, _ = accounts.log_in(SELLER_PHONE, PASSWORD)

        products = {}
        for name, units in (("flash", spec["flash_units"]), ("steady", spec["steady_units"])):
            product = catalog.create_product(
                seller, publish=True, title=f"乌什薄皮核桃 集群测试 {name}", description="集群测试商品。",
                category="nuts", unit="bag", net_weight_grams=2500, price_fen=5980, stock_units=units,
                min_order_units=1, ships_within_days=2, origin_county_adcode=COUNTY)
            if product.status != ProductStatus.ACTIVE or product.stock_units != units:
                raise RuntimeError(f"product {product.id} is {product.status} with {product.stock_units} units")
            products[name] = product.id

        # Buyers in one insert with one shared argon2 hash, and tokens written as log_in writes
        # them (the SHA-256 digest of the plain token): log_in costs ~0.2 s of argon2 per buyer.
        now = utcnow()
        password_hash = accounts.hash_password(PASSWORD)
        phones = [f"{BUYER_PHONE_PREFIX}{number:08d}" for number in range(spec["buyers"])]
        buyer_ids = db.session.scalars(
            insert(User).returning(User.id, sort_by_parameter_order=True),
            [{"phone": phone, "display_name": f"集群买家{number:04d}", "password_hash": password_hash,
              "locale": "zh_CN", "is_active": True, "created_at": now, "updated_at": now}
             for number, phone in enumerate(phones)],
        ).all()
        db.session.execute(insert(UserRole), [{"user_id": uid, "role": "buyer", "granted_at": now} for uid in buyer_ids])
        tokens = [secrets.token_urlsafe(32) for _ in buyer_ids]
        expires = now + app.config["TOKEN_TTL"]
        db.session.execute(insert(ApiToken), [
            {"user_id": uid, "token_digest": accounts._digest(plain), "created_at": now, "expires_at": expires}
            for uid, plain in zip(buyer_ids, tokens, strict=True)])
        db.session.commit()
        db.engine.dispose()
    return {"seller_token": seller_token, "buyer_phones": phones, "buyer_tokens": tokens, "products": products,
            "county": COUNTY, "password": PASSWORD}


if __name__ == "__main__":
    spec_path, out_path = sys.argv[1:3]
    Path(out_path).write_text(json.dumps(prepare(json.loads(Path(spec_path).read_text()))))
