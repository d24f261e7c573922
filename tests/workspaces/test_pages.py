"""Workspaces, keys and model permissions through the pages: errors next to the fields."""

import re

from portal.audit.models import AuditEntry
from portal.workspaces.models import ModelGrant, Workspace
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


def test_the_form_shows_errors_next_to_the_fields_and_saves_nothing(
    client_for, admin, make_workspace
):
    make_workspace("team-a", default=True)
    client = client_for(admin)
    response = client.post(
        "/workspaces/new/", {**VALID, "slug": "team-a", "is_default": "on", "scope": "eu"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "A workspace with this slug already exists" in html
    assert "already has a default workspace" in html
    assert Workspace.objects.count() == 1


def test_the_form_creates_a_workspace_and_audits_it(client_for, admin):
    response = client_for(admin).post("/workspaces/new/", {**VALID, "is_default": ""})
    assert response.status_code == 302
    assert Workspace.objects.filter(slug="risk").exists()
    assert AuditEntry.objects.filter(
        action="create", target_type="workspace", source="web"
    ).exists()


def test_the_region_picks_the_scope_choices(client_for, admin):
    html = client_for(admin).get("/workspaces/scope-options/?region=eu-central-1").content.decode()
    assert 'value="global"' in html and 'value="eu"' in html and "mainland" not in html


def test_adding_a_key_through_the_form_shows_only_the_fingerprint(client_for, admin, workspace_a):
    secret = random_key()
    response = client_for(admin).post(
        "/workspaces/team-a/keys/", {"label": "new", "secret": secret}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200 and "stored encrypted" in html
    assert secret not in html
    assert f"…{secret[-4:]}" in html
    assert "<html" not in html  # an htmx request gets the fragment


def test_a_bad_key_in_the_form_says_why(client_for, admin, workspace_a):
    response = client_for(admin).post(
        "/workspaces/team-a/keys/", {"label": "x", "secret": "LTAIabc"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "AccessKey ID" in response.content.decode()
    assert workspace_a.api_keys.count() == 1


def test_the_grid_toggle_grants_and_revokes_with_an_audit_entry(client_for, admin, workspace_a):
    client = client_for(admin)
    html = client.post(
        "/workspaces/team-a/models/qwen-max/toggle/", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="grant-qwen-max"' in html and "checked" in html
    assert ModelGrant.objects.filter(workspace=workspace_a, model__name="qwen-max").exists()
    client.post("/workspaces/team-a/models/qwen-max/toggle/", HTTP_HX_REQUEST="true")
    assert not ModelGrant.objects.filter(workspace=workspace_a, model__name="qwen-max").exists()
    assert list(AuditEntry.objects.values_list("action", flat=True).order_by("id")) == [
        "grant",
        "revoke",
    ]


def test_the_grid_refuses_a_model_of_another_region(client_for, admin, workspace_a):
    html = client_for(admin).post("/workspaces/team-a/models/qwen-plus-us/toggle/").content.decode()
    assert "not offered in China (Beijing)" in html
    assert not workspace_a.grants.filter(model__name="qwen-plus-us").exists()


def test_the_list_counts_without_a_query_per_row(
    client_for, admin, make_workspace, django_assert_max_num_queries
):
    for n in range(12):
        make_workspace(f"ws-{n}", region="ap-southeast-1", models=["qwen-plus"])
    client = client_for(admin)
    with django_assert_max_num_queries(12):
        response = client.get("/workspaces/")
    rows = re.findall(r'href="/workspaces/ws-\d+/" class="fw-semibold"', response.content.decode())
    assert len(rows) == 12


def test_members_and_leads_are_managed_on_the_page(client_for, admin, ops, make_user, workspace_a):
    lead = make_user("new-lead", "lead")
    client = client_for(admin)
    client.post(
        "/workspaces/team-a/members/",
        {"username": lead.username, "is_lead": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert workspace_a.memberships.get(user=lead).is_lead
    # Leading gives a lead the workspace's costs; an ops user would gain nothing: refused.
    response = client.post(
        "/workspaces/team-a/members/",
        {"username": ops.username, "is_lead": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "only team leads lead workspaces" in response.content.decode()
    assert not workspace_a.memberships.filter(user=ops).exists()
    response = client.post(
        "/workspaces/team-a/members/", {"username": "nobody"}, HTTP_HX_REQUEST="true"
    )
    assert "No user &#x27;nobody&#x27;" in response.content.decode()
