"""Property-based fuzzing of every operation in the published OpenAPI document.

Each operation is called with generated valid and invalid input, anonymously and as an
administrator; no response may be a 5xx, and every response must match the documented status
codes, content type and schema. New endpoints are covered as soon as they are in the spec.
"""
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import isolated_wsgi

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", isolated_wsgi(app))


@pytest.fixture
def admin_headers(build):
    return build.headers("admin")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_anonymous_calls_conform_to_the_spec(case):
    case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_calls_conform_to_the_spec(case, admin_headers):
    case.call_and_validate(headers=admin_headers, checks=CHECKS)


@pytest.fixture
def buyer_headers(build):
    build.county("652927")  # addresses name a county of the registry; generated ones mostly do not
    return build.headers("buyer")


@schema.include(path_regex="^/api/v1/me/").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_buyer_calls_conform_to_the_spec(case, buyer_headers):
    """The buyer's own endpoints (cart, addresses), which anonymous and admin callers only reach as 401/403."""
    case.call_and_validate(headers=buyer_headers, checks=CHECKS)


@pytest.fixture
def claims_party_headers(build):
    return build.headers("buyer", "seller")


@schema.include(path_regex="^/api/v1/(claims|seller/claims)").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_claim_party_calls_conform_to_the_spec(case, claims_party_headers):
    """The claims' endpoints as a buyer and seller calls them (past the role checks that stop
    anonymous and admin callers, into their input schemas and services)."""
    case.call_and_validate(headers=claims_party_headers, checks=CHECKS)
