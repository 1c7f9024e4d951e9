"""Pages and their style sheet are sent gzip'd to browsers that accept it, and plain to others."""
import gzip

import pytest


@pytest.mark.parametrize("path", ["/login", "/assets/pages.css"])
def test_pages_and_style_sheet_are_gzipped_for_browsers_that_accept_it(client, path):
    plain = client.get(path)
    packed = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})

    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"] and "Accept-Encoding" in plain.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data)
    assert int(packed.headers["Content-Length"]) == len(packed.data)


def test_the_api_is_left_as_it_is(client):
    response = client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers
