"""The app's JSON bodies are written by orjson and read as they were under Flask's own provider:
UTF-8, keys in the order given, the types the views hand over."""
import decimal
import json

import pytest
from flask import jsonify
from markupsafe import Markup

from marketplace.common.json_provider import OrjsonProvider


def test_the_app_writes_its_json_with_orjson(app):
    assert isinstance(app.json, OrjsonProvider)


def test_a_body_is_utf8_in_the_given_key_order_and_ends_with_a_newline(app):
    body = {"title": "阿克苏冰糖心苹果", "price_fen": 5990, "origin": {"county_name": "温宿县", "is_poverty": True},
            "a_first": None, "tags": ["核桃", 1, 2.5]}
    with app.test_request_context():
        response = jsonify(body)

    raw = response.get_data()
    assert response.mimetype == "application/json"
    assert "阿克苏冰糖心苹果".encode() in raw  # not \\uXXXX escapes
    assert raw.endswith(b"\n")
    assert list(json.loads(raw)) == ["title", "price_fen", "origin", "a_first", "tags"]
    assert json.loads(raw) == body


def test_decimals_markup_and_integer_keys_are_written_as_flask_wrote_them(app):
    with app.test_request_context():
        raw = jsonify({"share": decimal.Decimal("12.50"), "label": Markup("<b>x</b>"), 7: "seven"}).get_data()

    assert json.loads(raw) == {"share": "12.50", "label": "<b>x</b>", "7": "seven"}


def test_an_unknown_type_is_refused_not_written_as_something_else(app):
    with app.test_request_context(), pytest.raises(TypeError, match="not JSON serializable: object"):
        jsonify({"odd": object()})


def test_an_api_response_reads_the_same_as_before(client):
    response = client.get("/api/v1/categories")

    assert response.status_code == 200
    assert response.get_data().endswith(b"\n")
    assert response.get_json() == json.loads(response.get_data().decode())
