"""Every id in every URL, page or API, is read by the id converter: an id PostgreSQL cannot hold is
simply not found (404), before any view, login check or query runs."""
import pytest
from werkzeug.routing.converters import AnyConverter, NumberConverter

from marketplace.common.converters import IdConverter

OUT_OF_RANGE = 2_147_483_648  # one more than PostgreSQL's integer holds
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def rules_with_numbers(app):
    return [rule for rule in app.url_map.iter_rules()
            if any(isinstance(converter, NumberConverter) for converter in rule._converters.values())]


def out_of_range_url(app, rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, NumberConverter):
            values[name] = OUT_OF_RANGE
        elif isinstance(converter, AnyConverter):
            values[name] = next(iter(converter.items))
        else:
            values[name] = "x"
    return app.url_map.bind("localhost").build(rule.endpoint, values, force_external=False)


def test_every_number_in_a_url_is_an_id(app):
    rules = rules_with_numbers(app)
    assert len(rules) > 50  # the walk reaches the API and the pages
    not_ids = sorted(rule.rule for rule in rules
                     if not all(isinstance(converter, IdConverter) for converter in rule._converters.values()
                                if isinstance(converter, NumberConverter)))
    assert not_ids == []


@pytest.mark.parametrize("method", METHODS)
def test_an_id_out_of_range_is_not_found_on_every_route(app, client, method):
    answers = {}
    for rule in rules_with_numbers(app):
        if method in rule.methods:
            url = out_of_range_url(app, rule)
            answers[f"{method} {url}"] = client.open(url, method=method).status_code
    assert answers  # every method is used by some route with an id
    assert {route: status for route, status in answers.items() if status != 404} == {}
