"""Each role against each page and API route: the right 200/302/403 (or 401/404).

Personas: anonymous, admin, ops, and the lead of workspace A. The endpoint probes with
workspace A's key; workspace B belongs to another lead.
"""

import json

import pytest

ANON, ADMIN, OPS, LEAD = "anon", "admin", "ops", "lead"

# (method, path, {persona: status})
PAGES = [
    ("get", "/", {ANON: 302, ADMIN: 302, OPS: 302, LEAD: 302}),
    ("get", "/profile/", {ANON: 302, ADMIN: 200, OPS: 200, LEAD: 200}),
    ("get", "/endpoints/", {ANON: 302, ADMIN: 200, OPS: 200, LEAD: 403}),
    ("get", "/endpoints/new/", {ANON: 302, ADMIN: 200, OPS: 403, LEAD: 403}),
    ("get", "/endpoints/{ep}/", {ANON: 302, ADMIN: 200, OPS: 200, LEAD: 403}),
    ("get", "/endpoints/{ep}/edit/", {ANON: 302, ADMIN: 200, OPS: 403, LEAD: 403}),
    ("get", "/endpoints/{ep}/delete/", {ANON: 302, ADMIN: 200, OPS: 403, LEAD: 403}),
    ("post", "/endpoints/{ep}/probe/", {ANON: 302, ADMIN: 302, OPS: 302, LEAD: 403}),
    ("get", "/vpcs/", {ANON: 302, ADMIN: 200, OPS: 200, LEAD: 403}),
    ("get", "/vpcs/new/", {ANON: 302, ADMIN: 200, OPS: 403, LEAD: 403}),
    ("get", "/vpcs/{vpc}/", {ANON: 302, ADMIN: 200, OPS: 200, LEAD: 403}),
    ("get", "/probes/", {ANON: 302, ADMIN: 200, OPS: 200, LEAD: 403}),
    ("post", "/probes/all/", {ANON: 302, ADMIN: 302, OPS: 302, LEAD: 403}),
    ("get", "/workspaces/", {ANON: 302, ADMIN: 200, OPS: 200, LEAD: 200}),
    ("get", "/workspaces/new/", {ANON: 302, ADMIN: 200, OPS: 403, LEAD: 403}),
    ("get", "/workspaces/team-a/", {ANON: 302, ADMIN: 200, OPS: 200, LEAD: 200}),
    ("get", "/workspaces/team-b/", {ANON: 302, ADMIN: 200, OPS: 200, LEAD: 404}),
    ("get", "/workspaces/team-a/edit/", {ANON: 302, ADMIN: 200, OPS: 403, LEAD: 403}),
    (
        "post",
        "/workspaces/team-a/models/qwen-max/toggle/",
        {ANON: 302, ADMIN: 200, OPS: 403, LEAD: 403},
    ),
    ("get", "/costs/", {ANON: 302, ADMIN: 200, OPS: 403, LEAD: 200}),
    ("get", "/audit/", {ANON: 302, ADMIN: 200, OPS: 403, LEAD: 403}),
    ("get", "/admin/", {ANON: 302, ADMIN: 200, OPS: 302, LEAD: 302}),
]

API = [
    ("get", "/api/v1/me", None, {ANON: 401, ADMIN: 200, OPS: 200, LEAD: 200}),
    ("get", "/api/v1/workspaces", None, {ANON: 401, ADMIN: 200, OPS: 200, LEAD: 200}),
    ("post", "/api/v1/workspaces", {}, {ANON: 401, ADMIN: 400, OPS: 403, LEAD: 403}),
    ("get", "/api/v1/workspaces/team-a/keys", None, {ANON: 401, ADMIN: 200, OPS: 200, LEAD: 200}),
    (
        "post",
        "/api/v1/workspaces/team-a/keys",
        {"label": "x", "secret": ""},
        {ANON: 401, ADMIN: 400, OPS: 403, LEAD: 403},
    ),
    ("get", "/api/v1/workspaces/team-a/models", None, {ANON: 401, ADMIN: 200, OPS: 200, LEAD: 200}),
    (
        "put",
        "/api/v1/workspaces/team-a/models",
        {"models": ["qwen-plus"]},
        {ANON: 401, ADMIN: 200, OPS: 403, LEAD: 403},
    ),
    ("get", "/api/v1/workspaces/team-b/models", None, {ANON: 401, ADMIN: 200, OPS: 200, LEAD: 404}),
    ("get", "/api/v1/vpcs", None, {ANON: 401, ADMIN: 200, OPS: 200, LEAD: 403}),
    ("post", "/api/v1/vpcs", {}, {ANON: 401, ADMIN: 400, OPS: 403, LEAD: 403}),
    ("get", "/api/v1/endpoints", None, {ANON: 401, ADMIN: 200, OPS: 200, LEAD: 403}),
    ("post", "/api/v1/endpoints", {}, {ANON: 401, ADMIN: 400, OPS: 403, LEAD: 403}),
    ("get", "/api/v1/endpoints/{ep}", None, {ANON: 401, ADMIN: 200, OPS: 200, LEAD: 403}),
    (
        "patch",
        "/api/v1/endpoints/{ep}",
        {"interval_s": 120},
        {ANON: 401, ADMIN: 200, OPS: 403, LEAD: 403},
    ),
    ("get", "/api/v1/endpoints/{ep}/snippets", None, {ANON: 401, ADMIN: 200, OPS: 200, LEAD: 403}),
    ("get", "/api/v1/endpoints/{ep}/probes", None, {ANON: 401, ADMIN: 200, OPS: 200, LEAD: 403}),
    ("post", "/api/v1/endpoints/{ep}/probe", {}, {ANON: 401, ADMIN: 202, OPS: 202, LEAD: 403}),
    ("delete", "/api/v1/endpoints/{ep}", None, {ANON: 401, ADMIN: 204, OPS: 403, LEAD: 403}),
]


@pytest.fixture
def world(admin, ops, lead_a, workspace_a, workspace_b, make_vpc, make_endpoint):
    vpc = make_vpc()
    endpoint = make_endpoint(vpc=vpc, workspace=workspace_a, allows_80_443=True)
    return {ADMIN: admin, OPS: ops, LEAD: lead_a, ANON: None, "ep": endpoint.pk, "vpc": vpc.pk}


def _cases(table) -> list:
    cases = []
    for method, path, *rest in table:
        expected = rest[-1]
        for persona, status in expected.items():
            cases.append(
                pytest.param(
                    method, path, *rest[:-1], persona, status, id=f"{persona}-{method}-{path}"
                )
            )
    return cases


@pytest.mark.parametrize(("method", "path", "persona", "status"), _cases(PAGES))
def test_it_gives_each_role_the_right_answer_on_pages(
    world, client_for, method, path, persona, status
):
    client = client_for(world[persona])
    response = getattr(client, method)(path.format(**world))
    assert response.status_code == status
    if status == 302 and persona == ANON:
        assert response["Location"].startswith("/login/") or response["Location"].startswith(
            "/admin/login/"
        )


@pytest.mark.parametrize(("method", "path", "body", "persona", "status"), _cases(API))
def test_it_gives_each_role_the_right_answer_on_the_api(
    world, api_client, method, path, body, persona, status
):
    api = api_client(world[persona])
    path = path.format(**world)
    if method in ("get", "delete"):
        response = getattr(api, method)(path)
    else:
        response = getattr(api, method)(path, json.dumps(body))
    assert response.status_code == status, response.content
    if status in (401, 403, 404):
        assert "detail" in response.json()
    if status == 400:
        assert "errors" in response.json()
