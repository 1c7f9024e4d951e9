"""The read side of trace pages (溯源): where a listing, or one sold order line, comes from.

A trace page is public and named by an unguessable token (``products.trace_token``, or
``order_lines.trace_token`` printed as a QR code on the parcel), so what is read here is what
anyone holding the parcel may see: the product, its origin county (and its poverty status),
village and harvest date, the seller's display name and whether the seller is verified, the
service station the parcel went to, and the day it was sold. Never the buyer, an address or a
phone number: no column of theirs is selected.

Like the catalog's read side, it reads the tables of catalog, orders, accounts, geo and
stations directly in one statement (both kinds of token at once) and returns a plain dict in
the shape of ``flows.schemas.TraceOut``. An order line shows what it copied at the sale, not
the listing as it is now.
"""
import uuid

from sqlalchemy import text

from marketplace.common.sql import read_alone
from marketplace.common.time import business_day
from marketplace.errors import NotFound
from marketplace.flows.errors import FlowErrorCode


class TraceNotFound(NotFound):
    code = FlowErrorCode.TRACE_NOT_FOUND

    def __init__(self):
        super().__init__("No listing or parcel has this trace code.")


# Listings that are or were on sale (paused ones too: a parcel's buyer may look its listing up);
# drafts and listings in review are no one's business yet.
_TRACE = text("""
SELECT t.kind, t.title, t.category, t.unit, t.net_weight_grams, t.harvest_date, t.product_id, t.sold_at,
       c.adcode AS county_adcode, c.name AS county_name, pr.name AS province_name,
       c.is_national_poverty_county, c.poverty_exit_year, c.is_demonstration_county, v.name AS village_name,
       u.display_name AS seller_name,
       (u.seller_verified_at IS NOT NULL AND EXISTS (
           SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = 'seller')) AS seller_verified,
       s.name AS station_name, sv.name AS station_village_name, sc.name AS station_county_name
FROM (
    SELECT 'listing' AS kind, p.title, p.category, p.unit, p.net_weight_grams, p.harvest_date,
           p.origin_county_adcode, p.origin_village_id, p.seller_user_id,
           CASE WHEN p.status = 'active' THEN p.id END AS product_id,
           NULL::timestamptz AS sold_at, NULL::integer AS station_id
    FROM products p
    WHERE p.trace_token = :token AND p.status IN ('active', 'paused')
    UNION ALL
    SELECT 'sale', l.title, l.category, l.unit, l.net_weight_grams, l.harvest_date,
           l.origin_county_adcode, l.origin_village_id, l.seller_user_id,
           (SELECT p.id FROM products p WHERE p.id = l.product_id AND p.status = 'active'),
           o.paid_at, o.station_id
    FROM order_lines l
    JOIN orders o ON o.id = l.order_id
    WHERE l.trace_token = :token
) AS t
JOIN counties c ON c.adcode = t.origin_county_adcode
JOIN provinces pr ON pr.adcode = c.province_adcode
LEFT JOIN villages v ON v.id = t.origin_village_id
JOIN users u ON u.id = t.seller_user_id
LEFT JOIN service_stations s ON s.id = t.station_id
LEFT JOIN villages sv ON sv.id = s.village_id
LEFT JOIN counties sc ON sc.adcode = sv.county_adcode
LIMIT 1
""")


def read_trace(token: str) -> dict:
    """What the trace page of ``token`` shows; TraceNotFound for a token that is malformed or
    names nothing public. The day of sale is the Asia/Shanghai calendar day the order was paid
    (None while it is unpaid); the hour is left out, as it would say more about the buyer."""
    try:
        token_uuid = uuid.UUID(token)
    except (ValueError, TypeError, AttributeError):
        raise TraceNotFound() from None
    rows = read_alone(_TRACE, {"token": token_uuid})
    if not rows:
        raise TraceNotFound()
    row = rows[0]
    return {
        "kind": row.kind,
        "product": {"title": row.title, "category": row.category, "unit": row.unit,
                    "net_weight_grams": row.net_weight_grams, "product_id": row.product_id},
        "origin": {
            "county_adcode": row.county_adcode, "county_name": row.county_name, "province_name": row.province_name,
            "is_national_poverty_county": row.is_national_poverty_county,
            "poverty_exit_year": row.poverty_exit_year, "is_demonstration_county": row.is_demonstration_county,
            "village_name": row.village_name,
        },
        "harvest_date": row.harvest_date,
        "seller": {"display_name": row.seller_name, "is_verified": row.seller_verified},
        "station": {"name": row.station_name, "village_name": row.station_village_name,
                    "county_name": row.station_county_name} if row.station_name else None,
        "sold_on": business_day(row.sold_at) if row.sold_at else None,
    }
