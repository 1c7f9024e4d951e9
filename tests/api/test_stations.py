"""Opening, listing and closing village service stations through the API."""
import pytest

STATIONS_URL = "/api/v1/stations"


def station_body(village, partner, **overrides) -> dict:
    body = {"name": f"{village.name}服务站", "village_id": village.id, "partner_user_id": partner.id,
            "address": "村委会东侧50米", "phone": "0997-4211234"}
    body.update(overrides)
    return body


def listed_ids(client, headers: dict | None = None, **query) -> list[int]:
    response = client.get(STATIONS_URL, query_string={"per_page": 100, **query}, headers=headers or {})
    assert response.status_code == 200, response.json
    assert response.json["total"] == len(response.json["items"])
    return [station["id"] for station in response.json["items"]]


def error_code(response) -> str:
    return response.json["error"]["code"]


# ---------------------------------------------------------------- opening a station

def test_admin_opens_a_station_for_a_partner(client, build):
    village = build.village("652927", name="英阿瓦提村")
    partner = build.user("partner", display_name="买买提")

    response = client.post(STATIONS_URL, json=station_body(village, partner), headers=build.headers("admin"))

    assert response.status_code == 201, response.json
    station = response.json
    assert {k: station[k] for k in ("name", "village_id", "village_name", "county_adcode", "partner_user_id",
                                    "partner_name", "address", "phone", "is_active")} == {
        "name": "英阿瓦提村服务站", "village_id": village.id, "village_name": "英阿瓦提村", "county_adcode": "652927",
        "partner_user_id": partner.id, "partner_name": "买买提", "address": "村委会东侧50米",
        "phone": "0997-4211234", "is_active": True,
    }
    assert client.get(f"{STATIONS_URL}/{station['id']}").json["name"] == "英阿瓦提村服务站"


@pytest.mark.parametrize("roles", [("buyer",), ("seller",), ("seller", "buyer")])
def test_a_station_partner_must_hold_the_partner_role(client, build, roles):
    village = build.village()
    not_a_partner = build.user(*roles)

    response = client.post(STATIONS_URL, json=station_body(village, not_a_partner), headers=build.headers("admin"))

    assert response.status_code == 422
    assert error_code(response) == "not_a_partner"
    assert response.json["error"]["details"] == {"partner_user_id": not_a_partner.id}
    assert listed_ids(client) == []


def test_a_station_in_an_unknown_village_is_404(client, build):
    village = build.village()
    body = station_body(village, build.user("partner"), village_id=village.id + 1000)

    response = client.post(STATIONS_URL, json=body, headers=build.headers("admin"))

    assert (response.status_code, error_code(response)) == (404, "village_not_found")
    assert listed_ids(client) == []


def test_a_station_for_an_unknown_user_is_404(client, build):
    village = build.village()
    partner = build.user("partner")

    response = client.post(STATIONS_URL, json=station_body(village, partner, partner_user_id=partner.id + 1000),
                           headers=build.headers("admin"))

    assert (response.status_code, error_code(response)) == (404, "user_not_found")
    assert listed_ids(client) == []


@pytest.mark.parametrize("overrides", [
    {"name": ""}, {"name": "   "}, {"address": "  "}, {"phone": "call me"}, {"village_id": "1"}, {"village_id": 0},
], ids=["empty_name", "blank_name", "blank_address", "phone_with_letters", "id_as_string", "id_zero"])
def test_a_station_with_invalid_fields_is_422(client, build, overrides):
    body = station_body(build.village(), build.user("partner"), **overrides)

    response = client.post(STATIONS_URL, json=body, headers=build.headers("admin"))

    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert listed_ids(client) == []


@pytest.mark.parametrize(("roles", "status", "code"), [
    (("partner",), 403, "forbidden"),
    (("seller", "buyer"), 403, "forbidden"),
    ((), 401, "not_authenticated"),
])
def test_only_administrators_open_stations(client, build, roles, status, code):
    body = station_body(build.village(), build.user("partner"))
    headers = build.headers(*roles) if roles else {}

    response = client.post(STATIONS_URL, json=body, headers=headers)

    assert response.status_code == status
    assert error_code(response) == code
    assert listed_ids(client) == []


# ---------------------------------------------------------------- listing

def test_the_public_list_shows_only_active_stations(client, build):
    open_ = build.station()
    closed = build.station(is_active=False)

    assert listed_ids(client) == [open_.id]
    assert client.get(f"{STATIONS_URL}/{closed.id}").status_code == 404


def test_stations_filter_by_county(client, build):
    in_wushi = [build.station(village=build.village("652927")) for _ in range(2)]
    in_huayin = build.station(village=build.village("610582"))
    build.county("331123")

    assert listed_ids(client, county="652927") == [station.id for station in in_wushi]
    assert listed_ids(client, county="610582") == [in_huayin.id]
    assert listed_ids(client, county="331123") == []


def test_filtering_stations_by_an_unknown_or_malformed_county(client, build):
    build.station()

    unknown = client.get(STATIONS_URL, query_string={"county": "652999"})
    malformed = client.get(STATIONS_URL, query_string={"county": "6529"})

    assert (unknown.status_code, error_code(unknown)) == (404, "county_not_found")
    assert (malformed.status_code, error_code(malformed)) == (422, "validation_error")


def test_admin_can_include_inactive_stations_and_others_cannot(client, build):
    open_ = build.station()
    closed = build.station(is_active=False)

    admin_view = listed_ids(client, build.headers("admin"), include_inactive="true")
    partner_view = listed_ids(client, build.headers("partner"), include_inactive="true")
    anonymous_view = listed_ids(client, include_inactive="true")

    assert admin_view == [open_.id, closed.id]
    assert partner_view == anonymous_view == [open_.id]
    assert listed_ids(client, build.headers("admin")) == [open_.id]


def test_station_pages_carry_the_total_in_a_stable_order(client, build):
    stations = [build.station() for _ in range(5)]

    pages = [client.get(STATIONS_URL, query_string={"page": page, "per_page": 2}).json for page in (1, 2, 3)]

    assert [page["total"] for page in pages] == [5, 5, 5]
    assert [item["id"] for page in pages for item in page["items"]] == [station.id for station in stations]


# ---------------------------------------------------------------- changing and closing

def test_closing_a_station_removes_it_from_the_public_list_and_detail(client, build):
    station = build.station()
    other = build.station()
    admin = build.headers("admin")

    closed = client.patch(f"{STATIONS_URL}/{station.id}", json={"is_active": False}, headers=admin)

    assert closed.status_code == 200, closed.json
    assert closed.json["is_active"] is False
    assert listed_ids(client) == [other.id]
    detail = client.get(f"{STATIONS_URL}/{station.id}")
    assert (detail.status_code, error_code(detail)) == (404, "station_not_found")
    assert listed_ids(client, admin, include_inactive="true") == [station.id, other.id]


def test_a_closed_station_can_be_reopened(client, build):
    station = build.station(is_active=False)

    reopened = client.patch(f"{STATIONS_URL}/{station.id}", json={"is_active": True}, headers=build.headers("admin"))

    assert reopened.status_code == 200
    assert listed_ids(client) == [station.id]


def test_admin_reassigns_a_station_to_another_partner(client, build):
    station = build.station()
    successor = build.user("partner", display_name="阿依古丽")

    response = client.patch(f"{STATIONS_URL}/{station.id}", json={"partner_user_id": successor.id, "phone": "13999990000"},
                            headers=build.headers("admin"))

    assert response.status_code == 200, response.json
    assert (response.json["partner_user_id"], response.json["partner_name"], response.json["phone"]) == (
        successor.id, "阿依古丽", "13999990000")


def test_reassigning_a_station_to_a_non_partner_is_422_and_changes_nothing(client, build):
    station = build.station()
    partner_id = station.partner_user_id

    response = client.patch(f"{STATIONS_URL}/{station.id}", json={"partner_user_id": build.user("buyer").id, "name": "新名字"},
                            headers=build.headers("admin"))

    assert response.status_code == 422
    assert error_code(response) == "not_a_partner"
    detail = client.get(f"{STATIONS_URL}/{station.id}").json
    assert (detail["partner_user_id"], detail["name"]) == (partner_id, station.name)


@pytest.mark.parametrize("change", [{"name": "  "}, {"address": ""}, {"phone": "call me"}, {"is_active": "perhaps"}])
def test_an_invalid_change_is_422_and_changes_nothing(client, build, change):
    station = build.station()

    response = client.patch(f"{STATIONS_URL}/{station.id}", json=change, headers=build.headers("admin"))

    assert (response.status_code, error_code(response)) == (422, "validation_error")
    detail = client.get(f"{STATIONS_URL}/{station.id}").json
    assert (detail["name"], detail["address"], detail["phone"]) == (station.name, station.address, station.phone)


def test_changing_an_unknown_station_is_404(client, build):
    response = client.patch(f"{STATIONS_URL}/999999", json={"is_active": False}, headers=build.headers("admin"))

    assert (response.status_code, error_code(response)) == (404, "station_not_found")


@pytest.mark.parametrize(("roles", "status"), [(("partner",), 403), ((), 401)])
def test_only_administrators_change_stations(client, build, roles, status):
    station = build.station()
    headers = build.headers(*roles) if roles else {}

    response = client.patch(f"{STATIONS_URL}/{station.id}", json={"is_active": False}, headers=headers)

    assert response.status_code == status
    assert listed_ids(client) == [station.id]
