"""Who may call what: every endpoint in the OpenAPI document, called by every kind of caller.

The table below is the access policy. A new endpoint without a row fails
``test_every_endpoint_in_the_spec_has_a_row``; a row whose policy disagrees with the roles the
spec documents fails ``test_documented_roles_match_the_table``.
"""
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from tests.builders import PASSWORD

PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed_in"  # any valid bearer token
ADMIN = "admin"

CALLERS = ["anonymous", "buyer", "seller", "partner", "admin"]
SPEC_ROLES = {PUBLIC: None, SIGNED_IN: ["any"], ADMIN: ["admin"]}

COUNTY_CSV = "adcode,province,prefecture,county\n652927,新疆维吾尔自治区,阿克苏地区,乌什县\n".encode()


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    who: str
    request: Callable[[SimpleNamespace], dict] = field(default=lambda world: {})

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("POST", "/api/v1/auth/register", PUBLIC,
             lambda w: {"json": {"phone": "13712345678", "display_name": "新用户", "password": "s3cret-pass"}}),
    Endpoint("POST", "/api/v1/auth/login", PUBLIC,
             lambda w: {"json": {"identifier": w.target_user.phone, "password": PASSWORD}}),
    Endpoint("POST", "/api/v1/auth/logout", SIGNED_IN),
    Endpoint("GET", "/api/v1/me", SIGNED_IN),
    Endpoint("GET", "/api/v1/users", ADMIN),
    Endpoint("GET", "/api/v1/users/{user_id}", ADMIN),
    Endpoint("PATCH", "/api/v1/users/{user_id}", ADMIN, lambda w: {"json": {"is_active": True}}),
    Endpoint("GET", "/api/v1/counties", PUBLIC),
    Endpoint("GET", "/api/v1/counties/{adcode}", PUBLIC),
    Endpoint("GET", "/api/v1/provinces", PUBLIC),
    Endpoint("POST", "/api/v1/counties/imports", ADMIN,
             lambda w: {"data": {"kind": "all", "file": (io.BytesIO(COUNTY_CSV), "counties.csv")},
                        "content_type": "multipart/form-data"}),
    Endpoint("GET", "/api/v1/counties/{adcode}/villages", PUBLIC),
    Endpoint("POST", "/api/v1/counties/{adcode}/villages", ADMIN, lambda w: {"json": {"name": "新建村"}}),
    Endpoint("GET", "/api/v1/stations", PUBLIC),
    Endpoint("POST", "/api/v1/stations", ADMIN,
             lambda w: {"json": {"name": "新建村服务站", "village_id": w.village.id, "partner_user_id": w.partner.id,
                                 "address": "村委会旁", "phone": "0997-1234567"}}),
    Endpoint("GET", "/api/v1/stations/{station_id}", PUBLIC),
    Endpoint("PATCH", "/api/v1/stations/{station_id}", ADMIN, lambda w: {"json": {"address": "村小学对面"}}),
]
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def world(build) -> SimpleNamespace:
    """Existing records the paths and bodies refer to."""
    village = build.village("652927")
    partner = build.user("partner")
    station = build.station(partner=partner, village=village)
    return SimpleNamespace(county=village.county_adcode, village=village, partner=partner, station=station,
                           target_user=build.user("buyer"))


@pytest.fixture
def openapi(client) -> dict:
    return client.get("/api/v1/openapi.json").json


def test_every_endpoint_in_the_spec_has_a_row(openapi):
    in_spec = {(method.upper(), path)
               for path, operations in openapi["paths"].items() for method in operations if method in HTTP_METHODS}
    in_table = {(e.method, e.path) for e in ENDPOINTS}
    assert in_spec - in_table == set(), "add a row to ENDPOINTS for each new endpoint"
    assert in_table - in_spec == set(), "remove rows for endpoints that no longer exist"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_documented_roles_match_the_table(openapi, endpoint):
    operation = openapi["paths"][endpoint.path][endpoint.method.lower()]
    assert operation.get("x-required-roles") == SPEC_ROLES[endpoint.who]
    assert ("security" in operation) == (endpoint.who != PUBLIC)


def _may_call(who: str, caller: str) -> bool:
    return who == PUBLIC or (who == SIGNED_IN and caller != "anonymous") or caller == ADMIN


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_endpoint_answers_each_caller_by_its_policy(client, build, world, endpoint, caller):
    headers = {} if caller == "anonymous" else build.headers(caller)
    path = endpoint.path.format(user_id=world.target_user.id, adcode=world.county, station_id=world.station.id)

    response = client.open(path, method=endpoint.method, headers=headers, **endpoint.request(world))

    if _may_call(endpoint.who, caller):
        assert 200 <= response.status_code < 300, response.json
    elif caller == "anonymous":
        assert response.status_code == 401, response.json
        assert response.json["error"]["code"] == "not_authenticated"
    else:
        assert response.status_code == 403, response.json
        assert response.json["error"]["code"] == "forbidden"
