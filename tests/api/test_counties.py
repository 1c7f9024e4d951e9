"""Browsing the county registry and provinces, and managing villages, through the API."""
import pytest

from marketplace.extensions import db

# adcode: (name, prefecture, poverty exit year or None, demonstration county)
REGISTRY = {
    "652901": ("阿克苏市", "阿克苏地区", None, True),
    "652927": ("乌什县", "阿克苏地区", 2019, False),
    "610582": ("华阴市", "渭南市", None, False),
    "610830": ("清涧县", "榆林市", 2019, True),
    "451228": ("都安瑶族自治县", "河池市", 2020, False),
    "520625": ("印江土家族苗族自治县", "铜仁市", 2018, False),
    "331123": ("遂昌县", "丽水市", None, False),
}
ALL_CODES = sorted(REGISTRY)
POVERTY_CODES = sorted(code for code, (_, _, year, _) in REGISTRY.items() if year)
DEMONSTRATION_CODES = sorted(code for code, (_, _, _, demo) in REGISTRY.items() if demo)


@pytest.fixture
def registry(build):
    """Seven counties in five provinces, with poverty and demonstration flags set."""
    for adcode, (name, prefecture, exit_year, demonstration) in REGISTRY.items():
        county = build.county(adcode, name=name)
        county.prefecture_name = prefecture
        county.is_national_poverty_county = exit_year is not None
        county.poverty_exit_year = exit_year
        county.is_demonstration_county = demonstration
    db.session.flush()


def listed_codes(client, **query) -> list[str]:
    response = client.get("/api/v1/counties", query_string={"per_page": 100, **query})
    assert response.status_code == 200, response.json
    assert response.json["total"] == len(response.json["items"])
    return [county["adcode"] for county in response.json["items"]]


def error_code(response) -> str:
    return response.json["error"]["code"]


# ---------------------------------------------------------------- GET /api/v1/counties

def test_counties_are_listed_in_adcode_order(client, registry):
    assert listed_codes(client) == ALL_CODES


@pytest.mark.parametrize("province", ["650000", "新疆维吾尔自治区"], ids=["by_code", "by_name"])
def test_counties_filter_by_province_code_or_full_name(client, registry, province):
    assert listed_codes(client, province=province) == ["652901", "652927"]


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("poverty", "true", POVERTY_CODES),
    ("poverty", "false", sorted(set(ALL_CODES) - set(POVERTY_CODES))),
    ("demonstration", "true", DEMONSTRATION_CODES),
    ("demonstration", "false", sorted(set(ALL_CODES) - set(DEMONSTRATION_CODES))),
])
def test_counties_filter_by_poverty_and_demonstration_flags(client, registry, flag, value, expected):
    assert listed_codes(client, **{flag: value}) == expected


def test_county_filters_combine(client, registry):
    assert listed_codes(client, province="陕西省", poverty="true") == ["610830"]
    assert listed_codes(client, province="650000", poverty="false", demonstration="true") == ["652901"]


@pytest.mark.parametrize(("q", "expected"), [
    ("乌什", ["652927"]),
    ("自治县", ["451228", "520625"]),
    ("阿克苏", ["652901", "652927"]),  # the prefecture name matches too
    ("%", []),
    ("_", []),
    ("\\", []),
])
def test_counties_filter_by_part_of_a_chinese_name(client, registry, q, expected):
    assert listed_codes(client, q=q) == expected


def test_county_pages_are_stable_and_carry_the_total(client, registry):
    pages = [client.get("/api/v1/counties", query_string={"page": page, "per_page": 3}).json for page in (1, 2, 3, 4)]

    assert [page["total"] for page in pages] == [7, 7, 7, 7]
    assert [(page["page"], page["per_page"]) for page in pages] == [(1, 3), (2, 3), (3, 3), (4, 3)]
    assert [county["adcode"] for page in pages for county in page["items"]] == ALL_CODES
    assert pages[3]["items"] == []


@pytest.mark.parametrize("province", ["火星省", "990000", "新疆"])
def test_unknown_province_filter_is_422_unknown_province(client, registry, province):
    response = client.get("/api/v1/counties", query_string={"province": province})

    assert response.status_code == 422
    assert error_code(response) == "unknown_province"
    assert response.json["error"]["details"] == {"province": province}


@pytest.mark.parametrize("query", [{"page": 0}, {"per_page": 101}, {"poverty": "maybe"}])
def test_invalid_list_arguments_are_422(client, registry, query):
    response = client.get("/api/v1/counties", query_string=query)

    assert response.status_code == 422
    assert error_code(response) == "validation_error"


# ---------------------------------------------------------------- GET /api/v1/counties/<adcode>

def test_county_detail_has_province_name_prefecture_and_flags(client, registry):
    response = client.get("/api/v1/counties/652927")

    assert response.status_code == 200
    assert response.json == {
        "adcode": "652927",
        "name": "乌什县",
        "province_adcode": "650000",
        "province_name": "新疆维吾尔自治区",
        "prefecture_name": "阿克苏地区",
        "is_national_poverty_county": True,
        "poverty_exit_year": 2019,
        "is_demonstration_county": False,
    }


def test_county_detail_of_a_county_without_flags(client, registry):
    response = client.get("/api/v1/counties/331123")

    assert response.status_code == 200
    assert (response.json["province_name"], response.json["is_national_poverty_county"],
            response.json["poverty_exit_year"], response.json["is_demonstration_county"]) == ("浙江省", False, None, False)


@pytest.mark.parametrize("adcode", ["652999", "650000", "65292", "6529271", "abcdef", "65292７"])
def test_unknown_or_malformed_adcode_is_404_county_not_found(client, registry, adcode):
    response = client.get(f"/api/v1/counties/{adcode}")

    assert response.status_code == 404
    assert error_code(response) == "county_not_found"


# ---------------------------------------------------------------- GET /api/v1/provinces

def test_provinces_lists_the_registry_provinces_in_code_order(client, registry):
    response = client.get("/api/v1/provinces")

    assert response.status_code == 200
    assert response.json == [
        {"adcode": "330000", "name": "浙江省"},
        {"adcode": "450000", "name": "广西壮族自治区"},
        {"adcode": "520000", "name": "贵州省"},
        {"adcode": "610000", "name": "陕西省"},
        {"adcode": "650000", "name": "新疆维吾尔自治区"},
    ]


# ---------------------------------------------------------------- villages

def villages_url(adcode: str = "652927") -> str:
    return f"/api/v1/counties/{adcode}/villages"


def test_admin_adds_villages_and_anyone_lists_them_by_name(client, build, registry):
    admin = build.headers("admin")

    created = client.post(villages_url(), json={"name": "英阿瓦提村"}, headers=admin)
    client.post(villages_url(), json={"name": "阿合雅村"}, headers=admin)

    assert created.status_code == 201, created.json
    assert created.json["county_adcode"] == "652927" and created.json["name"] == "英阿瓦提村"
    assert isinstance(created.json["id"], int) and created.json["created_at"]
    listed = client.get(villages_url())
    assert listed.status_code == 200
    assert [village["name"] for village in listed.json] == sorted(["英阿瓦提村", "阿合雅村"])
    assert client.get(villages_url("652901")).json == []


@pytest.mark.parametrize("name", ["英阿瓦提村", "  英阿瓦提村 "], ids=["same", "same_with_spaces"])
def test_adding_an_existing_village_is_409_village_exists(client, build, registry, name):
    admin = build.headers("admin")
    first = client.post(villages_url(), json={"name": "英阿瓦提村"}, headers=admin)

    again = client.post(villages_url(), json={"name": name}, headers=admin)

    assert again.status_code == 409
    assert error_code(again) == "village_exists"
    assert again.json["error"]["details"] == {"village_id": first.json["id"]}
    assert len(client.get(villages_url()).json) == 1


def test_the_same_village_name_may_exist_in_another_county(client, build, registry):
    admin = build.headers("admin")
    client.post(villages_url("652927"), json={"name": "团结村"}, headers=admin)

    other = client.post(villages_url("610582"), json={"name": "团结村"}, headers=admin)

    assert other.status_code == 201


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "村" * 81}])
def test_a_village_needs_a_name(client, build, registry, body):
    response = client.post(villages_url(), json=body, headers=build.headers("admin"))

    assert response.status_code == 422
    assert client.get(villages_url()).json == []


@pytest.mark.parametrize(("roles", "status", "code"), [
    (("seller",), 403, "forbidden"),
    (("partner", "buyer"), 403, "forbidden"),
    ((), 401, "not_authenticated"),
])
def test_only_administrators_add_villages(client, build, registry, roles, status, code):
    headers = build.headers(*roles) if roles else {}

    response = client.post(villages_url(), json={"name": "英阿瓦提村"}, headers=headers)

    assert response.status_code == status
    assert error_code(response) == code
    assert client.get(villages_url()).json == []


def test_villages_of_an_unknown_county_are_404(client, build, registry):
    listed = client.get(villages_url("652999"))
    added = client.post(villages_url("652999"), json={"name": "英阿瓦提村"}, headers=build.headers("admin"))

    assert (listed.status_code, error_code(listed)) == (404, "county_not_found")
    assert (added.status_code, error_code(added)) == (404, "county_not_found")
