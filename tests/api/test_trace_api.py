"""GET /api/v1/trace/<token>: the public trace of a listing or a sold order line, in the shape
OpenAPI publishes; nothing personal; an unknown or malformed code is the usual 404 error."""
import uuid
from datetime import date

import pytest

from marketplace.common.time import utcnow

TRACE = "/api/v1/trace"


@pytest.fixture
def walnuts(build, session):
    build.county("652927", "乌什县", is_national_poverty_county=True, poverty_exit_year=2020,
                 is_demonstration_county=True)
    village = build.village("652927", "英阿瓦提村")
    seller = build.user("seller", county="652927", display_name="阿依古丽")
    product = build.product(seller, title="乌什薄皮核桃", unit="bag", net_weight_grams=2500,
                            origin_village_id=village.id, harvest_date=date(2026, 9, 20))
    session.commit()
    return product


def test_a_listings_trace_names_its_origin_and_seller(client, walnuts):
    response = client.get(f"{TRACE}/{walnuts.trace_token}")

    assert response.status_code == 200
    assert response.json == {
        "kind": "listing",
        "product": {"title": "乌什薄皮核桃", "category": "fruit", "unit": "bag", "net_weight_grams": 2500,
                    "product_id": walnuts.id},
        "origin": {"county_adcode": "652927", "county_name": "乌什县", "province_name": "新疆维吾尔自治区",
                   "is_national_poverty_county": True, "poverty_exit_year": 2020, "is_demonstration_county": True,
                   "village_name": "英阿瓦提村"},
        "harvest_date": "2026-09-20",
        "seller": {"display_name": "阿依古丽", "is_verified": False},
        "station": None,
        "sold_on": None,
    }


def test_a_sold_lines_trace_has_the_station_and_day_of_sale_and_no_buyer(client, build, walnuts, session):
    partner = build.user("partner", county="652927")
    station = build.station(partner=partner, village=build.village("652927", "亚科瑞克村"), name="亚科瑞克村服务站")
    walnuts.seller.seller_verified_at = utcnow()
    buyer = build.user("buyer", display_name="城里的张女士", phone="13912345678")
    line = build.checkout(buyer, [walnuts], station=station, status="paid").orders[0].lines[0]
    session.commit()

    response = client.get(f"{TRACE}/{line.trace_token}")
    body = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.json["kind"] == "sale"
    assert response.json["station"] == {"name": "亚科瑞克村服务站", "village_name": "亚科瑞克村", "county_name": "乌什县"}
    assert response.json["seller"] == {"display_name": "阿依古丽", "is_verified": True}
    assert date.fromisoformat(response.json["sold_on"])
    for personal in ("城里的张女士", "13912345678", partner.display_name, station.phone, str(buyer.id)):
        assert personal not in body


@pytest.mark.parametrize("token", [str(uuid.UUID(int=1)), "not-a-uuid", "0" * 40])
def test_an_unknown_code_is_a_404_error(client, walnuts, token):
    response = client.get(f"{TRACE}/{token}")

    assert response.status_code == 404
    assert response.json["error"]["code"] == "trace_not_found"
    assert set(response.json["error"]) == {"code", "message", "details"}


def test_openapi_describes_the_trace(client):
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/trace/{token}"]["get"]
    schema = spec["components"]["schemas"]["TraceOut"]

    assert "200" in operation["responses"] and "security" not in operation
    assert set(schema["properties"]) == {"kind", "product", "origin", "harvest_date", "seller", "station", "sold_on"}


def test_a_listing_shows_its_trace_token_in_the_catalog_api(client, walnuts):
    assert client.get(f"/api/v1/products/{walnuts.id}").json["trace_token"] == str(walnuts.trace_token)
