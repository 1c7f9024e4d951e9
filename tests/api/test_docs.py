"""The published OpenAPI document and the docs page, which must work without internet."""
import re


def test_openapi_document_is_version_3_1_and_names_the_bearer_scheme(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}


def test_every_operation_documents_errors_in_the_one_error_shape(client):
    spec = client.get("/api/v1/openapi.json").json
    default = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]["schema"]
    error_schema = spec["components"]["schemas"][default["$ref"].rsplit("/", 1)[-1]]
    assert error_schema["required"] == ["error"]
    for path, operations in spec["paths"].items():
        for method in {"get", "post", "put", "patch", "delete"} & operations.keys():
            assert "default" in operations[method]["responses"], f"{method.upper()} {path} documents no error response"


def test_docs_page_loads_its_assets_from_this_server(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.get_data(as_text=True))
    assert sources, "the docs page references no assets"
    for source in sources:
        assert source.startswith("/api/docs/assets/"), f"{source} would need the internet"
        asset = client.get(source)
        assert asset.status_code == 200 and len(asset.data) > 1000, source
