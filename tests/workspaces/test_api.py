"""Workspaces, keys and model permissions through the API: a 400 naming the field, nothing changed."""

import json

import pytest

from portal.audit.models import AuditEntry
from portal.workspaces.models import ApiKey, Workspace
from tests.conftest import random_key

VALID = {
    "slug": "risk",
    "name": "Risk team",
    "workspace_id": "llm-risk0001",
    "region": "cn-beijing",
    "scope": "mainland",
    "is_default": False,
    "monthly_budget": 1200,
    "currency": "CNY",
}


def test_it_creates_a_workspace_through_the_api(api_client, admin):
    response = api_client(admin).post("/api/v1/workspaces", json.dumps(VALID))
    assert response.status_code == 201
    assert response.json() == {**VALID, "monthly_budget": 1200.0}
    ws = Workspace.objects.get(slug="risk")
    assert ws.region_id == "cn-beijing" and ws.monthly_budget == 1200
    entry = AuditEntry.objects.get(action="create", target_type="workspace")
    assert entry.source == "api" and entry.changes["after"]["workspace_id"] == "llm-risk0001"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"slug": "team-a"}, "slug", "already exists"),
        ({"scope": "international"}, "scope", "does not offer"),
        ({"region": "us-east-1", "scope": "mainland"}, "scope", "does not offer"),
        ({"region": "mars-1"}, "region", "Unknown region"),
        ({"region": "cn-hangzhou"}, "region", "Model Studio does not serve"),
        ({"is_default": True}, "is_default", "already has a default workspace"),
        ({"workspace_id": "llm_risk_01"}, "workspace_id", "underscores"),
        ({"monthly_budget": -5}, "monthly_budget", "negative"),
    ],
)
def test_bad_workspaces_are_refused_with_the_reason(
    api_client, admin, make_workspace, change, field, words
):
    make_workspace("team-a", region="cn-beijing", default=True)
    before = Workspace.objects.count()
    response = api_client(admin).post("/api/v1/workspaces", json.dumps({**VALID, **change}))
    assert response.status_code == 400
    messages = " ".join(response.json()["errors"][field])
    assert words in messages
    assert Workspace.objects.count() == before


def test_a_lead_sees_only_their_workspaces(api_client, lead_a, workspace_a, workspace_b):
    response = api_client(lead_a).get("/api/v1/workspaces")
    assert [w["slug"] for w in response.json()] == ["team-a"]


def test_ops_and_admins_see_all_workspaces(api_client, ops, workspace_a, workspace_b):
    slugs = {w["slug"] for w in api_client(ops).get("/api/v1/workspaces").json()}
    assert slugs == {"team-a", "team-b"}


def test_a_lead_cannot_change_anything(api_client, lead_a, workspace_a):
    api = api_client(lead_a)
    assert api.post("/api/v1/workspaces", json.dumps(VALID)).status_code == 403
    assert (
        api.put("/api/v1/workspaces/team-a/models", json.dumps({"models": []})).status_code == 403
    )
    assert (
        api.post(
            "/api/v1/workspaces/team-a/keys", json.dumps({"label": "x", "secret": random_key()})
        ).status_code
        == 403
    )
    key = workspace_a.api_keys.get()
    assert api.delete(f"/api/v1/workspaces/team-a/keys/{key.pk}").status_code == 403
    assert workspace_a.grants.count() == 1 and workspace_a.api_keys.get().revoked_at is None


def test_keys_are_added_listed_and_revoked_through_the_api(api_client, admin, workspace_a):
    api = api_client(admin)
    secret = random_key()
    response = api.post(
        "/api/v1/workspaces/team-a/keys", json.dumps({"label": "probe key", "secret": secret})
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"id", "label", "fingerprint", "created_at"}
    assert body["fingerprint"].startswith(f"sk-…{secret[-4:]} · ")
    listed = api.get("/api/v1/workspaces/team-a/keys").json()
    assert body["id"] in [k["id"] for k in listed]
    assert api.delete(f"/api/v1/workspaces/team-a/keys/{body['id']}").status_code == 204
    assert ApiKey.objects.get(pk=body["id"]).revoked_at is not None
    assert workspace_a.active_key().pk != body["id"]


@pytest.mark.parametrize(
    ("secret", "words"),
    [
        ("", "Paste the API key"),
        ("x" * 10_240, "10,240 characters"),
        ("sk-" + "a" * 10_000, "characters"),
        ("LTAI5tAbCdEfGhIjKlMnOpQr", "AccessKey ID"),
        ("ZGI1YWYxNjM5OTdlMmNlYjU1", "start with 'sk-'"),
        ("sk-abc def", "spaces"),
    ],
)
def test_bad_keys_are_refused(api_client, admin, workspace_a, secret, words):
    before = ApiKey.objects.count()
    response = api_client(admin).post(
        "/api/v1/workspaces/team-a/keys", json.dumps({"label": "k", "secret": secret})
    )
    assert response.status_code == 400
    assert words in " ".join(response.json()["errors"]["secret"])
    assert ApiKey.objects.count() == before


def test_an_unusual_key_format_is_stored_with_a_warning(api_client, admin, workspace_a):
    response = api_client(admin).post(
        "/api/v1/workspaces/team-a/keys",
        json.dumps({"label": "odd", "secret": "sk-ws-" + "Z" * 40}),
    )
    assert response.status_code == 201
    assert "Unusual format" in response.json()["warnings"][0]


def test_the_same_key_cannot_be_stored_twice(api_client, admin, workspace_a, workspace_b):
    response = api_client(admin).post(
        "/api/v1/workspaces/team-b/keys",
        json.dumps({"label": "dup", "secret": workspace_a.plain_key}),
    )
    assert response.status_code == 400
    assert "already stored" in response.json()["errors"]["secret"][0]


def test_put_models_replaces_the_grant_set(api_client, admin, workspace_a):
    api = api_client(admin)
    response = api.put(
        "/api/v1/workspaces/team-a/models", json.dumps({"models": ["qwen-max", "qwen-flash"]})
    )
    assert response.status_code == 200
    assert response.json() == {"models": ["qwen-flash", "qwen-max"]}
    assert set(workspace_a.grants.values_list("model__name", flat=True)) == {
        "qwen-flash",
        "qwen-max",
    }
    actions = list(
        AuditEntry.objects.filter(target_type="workspace").values_list("action", flat=True)
    )
    assert actions.count("grant") == 2 and actions.count("revoke") == 1


@pytest.mark.parametrize(
    ("models", "words"),
    [
        (["qwen-max", "qwen-nonsense"], "'qwen-nonsense' is not in the model catalog"),
        (["qwen-max", "qwen-plus-us"], "not offered in China (Beijing)"),
    ],
)
def test_put_models_is_refused_as_a_whole(api_client, admin, workspace_a, models, words):
    response = api_client(admin).put(
        "/api/v1/workspaces/team-a/models", json.dumps({"models": models})
    )
    assert response.status_code == 400
    assert words in " ".join(response.json()["errors"]["models"])
    assert list(workspace_a.grants.values_list("model__name", flat=True)) == ["qwen-plus"]


def test_the_default_workspace_calls_every_model_of_its_region(api_client, admin, make_workspace):
    make_workspace("bj-main", region="cn-beijing", default=True)
    models = api_client(admin).get("/api/v1/workspaces/bj-main/models").json()["models"]
    assert {"qwen-plus", "qwen-max", "qwen-flash", "qwen-turbo"} <= set(models)
    assert "qwen-plus-us" not in models


def test_us_only_variants_are_granted_in_virginia(api_client, admin, make_workspace):
    make_workspace("us-team", region="us-east-1")
    response = api_client(admin).put(
        "/api/v1/workspaces/us-team/models", json.dumps({"models": ["qwen-plus-us"]})
    )
    assert response.json() == {"models": ["qwen-plus-us"]}
