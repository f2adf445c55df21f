"""GET / serves the search page and its two assets; they stay out of the API schema and need no key."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from service.page_kit import build_app
from service.service_kit import wait_ready

KEY = "page-test-key"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with TestClient(build_app(tmp_path_factory.mktemp("page"), api_keys=[KEY])) as c:
        wait_ready(c)
        yield c


@pytest.mark.parametrize(
    "path, media_type, marker",
    [
        ("/", "text/html", '<form id="search-form"'),
        ("/static/page.js", "text/javascript", "/v1/search"),
        ("/static/page.css", "text/css", ".hits"),
    ],
)
def test_the_page_and_its_assets_are_served_without_a_key(client, path, media_type, marker):
    response = client.get(path)  # no Authorization header, though the service has API keys
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    assert marker in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_the_page_names_no_external_resource(client):
    for path in ("/", "/static/page.js", "/static/page.css"):
        assert "http://" not in client.get(path).text and "https://" not in client.get(path).text, path


def test_the_search_api_still_needs_the_key(client):
    assert client.post("/v1/search", json={"query": "vitamin"}).status_code == 401
    answer = client.post("/v1/search", json={"query": "vitamin"}, headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 200, answer.text


def test_other_static_names_stay_behind_the_key_and_are_a_404(client):
    assert client.get("/static/secrets.txt").status_code == 401  # only the page's own paths are open
    response = client.get("/static/secrets.txt", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 404
    assert "page.js" in response.json()["error"]["message"]


def test_the_page_is_not_part_of_the_api_schema(client):
    paths = client.app.openapi()["paths"]
    assert "/" not in paths and not any(p.startswith("/static") for p in paths)
