"""Input schemas refuse text PostgreSQL cannot store, wherever it sits in the input; the outermost
load checks the whole input once, and every load after it checks again."""
import marshmallow as ma
import pytest

from marketplace.common.schemas import Schema


class AddressIn(Schema):
    detail = ma.fields.String(required=True)


class LineIn(Schema):
    note = ma.fields.String(load_default=None)


class OrderIn(Schema):
    address = ma.fields.Nested(AddressIn, required=True)
    lines = ma.fields.List(ma.fields.Nested(LineIn), required=True)


@pytest.mark.parametrize("bad", [
    {"address": {"detail": "人民路\x001号"}, "lines": []},
    {"address": {"detail": "人民路1号"}, "lines": [{"note": "ok"}, {"note": "\ud800"}]},
    {"address": {"detail": "人民路1号"}, "lines": [], "\x00": 1},
], ids=["nul-in-nested", "surrogate-in-list", "nul-in-key"])
def test_unstorable_text_anywhere_in_the_input_is_refused(bad):
    with pytest.raises(ma.ValidationError) as refused:
        OrderIn().load(bad)

    assert refused.value.messages == {"_schema": ["Text must not contain NUL characters or unpaired surrogates."]}


def test_a_nested_schema_loaded_on_its_own_checks_its_input():
    with pytest.raises(ma.ValidationError):
        AddressIn().load({"detail": "\x00"})


def test_every_load_checks_again_after_one_that_failed_inside():
    with pytest.raises(ma.ValidationError):
        OrderIn().load({"address": {}, "lines": []})  # fails inside the nested load (detail missing)

    with pytest.raises(ma.ValidationError) as refused:
        AddressIn().load({"detail": "\x00"})
    assert "_schema" in refused.value.messages


def test_good_input_loads_through_every_level():
    loaded = OrderIn().load({"address": {"detail": "人民路1号"}, "lines": [{"note": "轻放"}]})

    assert loaded == {"address": {"detail": "人民路1号"}, "lines": [{"note": "轻放"}]}
