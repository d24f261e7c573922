"""The JSON API's contract: bearer tokens, JSON errors, the OpenAPI schema."""

import json

import pytest
from django.utils import timezone

from portal.accounts.models import ApiToken


def test_it_needs_a_token(client, db):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing, invalid or revoked API token."}
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer ap_nottherealtokenatall12345", "Bearer ", "Basic Zm9vOmJhcg==", "ap_x"]
)
def test_it_rejects_bad_tokens(client, admin, header):
    ApiToken.issue(admin, "real one")
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_it_accepts_a_token_and_says_whose_it_is(client, ops):
    token, plaintext = ApiToken.issue(ops, "script")
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 200
    assert response.json() == {
        "username": "oscar-ops",
        "role": "ops",
        "permissions": ["trigger_probes", "view_endpoints", "view_workspaces"],
    }
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_revoked_token_stops_working(client, admin):
    token, plaintext = ApiToken.issue(admin, "old")
    token.revoked_at = timezone.now()
    token.save()
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 401


def test_a_deactivated_users_token_stops_working(client, admin):
    _, plaintext = ApiToken.issue(admin, "t")
    admin.is_active = False
    admin.save()
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 401


def test_tokens_are_stored_as_digests_only(admin):
    token, plaintext = ApiToken.issue(admin, "t")
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert plaintext not in json.dumps(row, default=str)
    assert row["digest"] != plaintext and len(row["digest"]) == 64


def test_bad_input_is_a_400_with_field_errors(api_client, admin):
    api = api_client(admin)
    response = api.post("/api/v1/workspaces", json.dumps({"slug": "x", "region": 5}))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["name"] == ["This field is required."]
    assert "region" in errors
    response = api.post("/api/v1/workspaces", "{not json")
    assert response.status_code == 400


def test_the_openapi_schema_lists_the_routes(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path in [
        "/api/v1/workspaces",
        "/api/v1/workspaces/{slug}/keys",
        "/api/v1/workspaces/{slug}/keys/{key_id}",
        "/api/v1/workspaces/{slug}/models",
        "/api/v1/vpcs",
        "/api/v1/endpoints",
        "/api/v1/endpoints/{endpoint_id}",
        "/api/v1/endpoints/{endpoint_id}/snippets",
        "/api/v1/endpoints/{endpoint_id}/probes",
    ]:
        assert path in paths, path
    assert "BearerAuth" in json.dumps(schema["components"]) or "TokenAuth" in json.dumps(
        schema["components"]
    )


def test_the_api_reference_page_uses_no_cdn(client, db):
    html = client.get("/api/v1/docs").content.decode()
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
