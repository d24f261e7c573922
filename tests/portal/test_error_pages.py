"""Forbidden and malformed requests get pages that explain themselves, never a 500."""

import pytest


def test_forbidden_pages_explain_themselves(client_for, ops):
    response = client_for(ops).get("/endpoints/new/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Your role cannot open this page" in html
    assert "Your role (Ops) cannot do this." in html
    assert 'href="/probes/"' in html  # the navigation is there


@pytest.mark.parametrize(
    "path",
    [
        "/probes/?run=abc",
        "/endpoints/form/?endpoint=abc&kind=public",
        "/endpoints/abc/",
        "/vpcs/x1/",
    ],
)
def test_malformed_ids_in_urls_are_not_server_errors(client_for, admin, path):
    assert client_for(admin).get(path).status_code in (200, 404)
