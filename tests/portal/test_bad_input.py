"""The cases of issue #12, each measured once as a 500 or a wrong answer: bad input is refused
with the reason (a JSON 400 naming the field, or a note on the page) and changes nothing.

The fuzzers (test_fuzz_api.py, test_fuzz_forms.py) look for more; these pin what was found.
"""

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from endpoints.network.models import Endpoint, Vpc
from endpoints.network.services import check_endpoint
from portal import inputs
from portal.accounts.models import ApiToken
from portal.audit.models import AuditEntry
from portal.workspaces.models import ApiKey, ModelGrant, Workspace

BJ = "http://ep-fuzz0001.dashscope.cn-beijing.privatelink.aliyuncs.com"
WORKSPACE = {
    "name": "Fuzz team",
    "slug": "fuzz",
    "workspace_id": "llm-fuzz0001",
    "region": "cn-beijing",
    "scope": "mainland",
}
ENDPOINT = {
    "name": "fuzz private",
    "kind": "privatelink_default",
    "url": BJ,
    "region": "cn-beijing",
    "vpc": "vpc-bjtest01",
    "zones": ["cn-beijing-a", "cn-beijing-b"],
    "security_group": "sg-fuzz0001",
    "allows_80_443": True,
    "workspace": "team-a",
}
VPC = {"vpc_id": "vpc-fuzz0001", "name": "fuzz", "region": "cn-beijing", "cidr": "10.77.0.0/16"}


@pytest.fixture
def world(admin, ops, lead_a, workspace_a, make_vpc, make_endpoint):
    vpc = make_vpc()
    endpoint = make_endpoint(vpc=vpc, workspace=workspace_a, allows_80_443=True)
    return {"admin": admin, "ops": ops, "lead": lead_a, "vpc": vpc, "endpoint": endpoint}


def counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (Workspace, ApiKey, ModelGrant, Vpc, Endpoint, ApiToken, AuditEntry)
    }


# -- NUL bytes and lone surrogates -----------------------------------------------------------

NUL, SURROGATE = "fz\u0000ws", "fz\ud800ws"
BODIES = [
    ("post", "/api/v1/workspaces", WORKSPACE, "name"),
    ("post", "/api/v1/workspaces", WORKSPACE, "slug"),
    ("post", "/api/v1/workspaces", WORKSPACE, "region"),
    ("post", "/api/v1/workspaces/team-a/keys", {"label": "k", "secret": "sk-" + "a" * 32}, "label"),
    (
        "post",
        "/api/v1/workspaces/team-a/keys",
        {"label": "k", "secret": "sk-" + "a" * 32},
        "secret",
    ),
    ("post", "/api/v1/vpcs", VPC, "name"),
    ("post", "/api/v1/vpcs", VPC, "resolver"),
    ("post", "/api/v1/endpoints", ENDPOINT, "name"),
    ("post", "/api/v1/endpoints", ENDPOINT, "url"),
    ("post", "/api/v1/endpoints", ENDPOINT, "workspace"),
    ("patch", "/api/v1/endpoints/{endpoint}", {}, "name"),
    ("patch", "/api/v1/vpcs/vpc-bjtest01", {}, "name"),
]


@pytest.mark.parametrize("text", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(("method", "path", "body", "field"), BODIES)
def test_unstorable_text_in_any_string_field_is_a_400_naming_it(
    world, api_client, text, method, path, body, field
):
    api = api_client(world["admin"])
    before = counts()
    payload = json.dumps({**body, field: text})  # json.dumps escapes both as \\u0000, \\ud800
    response = getattr(api, method)(path.format(endpoint=world["endpoint"].pk), payload)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][field] in (
        [inputs.NUL_MESSAGE],
        [inputs.SURROGATE_MESSAGE],
    )
    assert counts() == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/workspaces/team-a/models", {"models": ["qwen-plus", NUL]}, "models"),
        ("/api/v1/vpcs/vpc-bjtest01", {"host_overrides": {NUL: "10.0.0.1"}}, "host_overrides"),
        ("/api/v1/vpcs/vpc-bjtest01", {"host_overrides": {"a.b": SURROGATE}}, "host_overrides"),
        ("/api/v1/endpoints/{endpoint}", {"zones": ["cn-beijing-a", SURROGATE]}, "zones"),
    ],
)
def test_unstorable_text_inside_lists_and_objects_names_the_field(
    world, api_client, path, body, field
):
    api = api_client(world["admin"])
    method = api.put if path.endswith("models") else api.patch
    response = method(path.format(endpoint=world["endpoint"].pk), json.dumps(body))
    assert response.status_code == 400 and field in response.json()["errors"]


def test_the_role_check_comes_before_the_input_check(world, api_client):
    body = json.dumps({**WORKSPACE, "name": NUL})
    assert api_client(None).post("/api/v1/workspaces", body).status_code == 401
    assert api_client(world["ops"]).post("/api/v1/workspaces", body).status_code == 403
    assert api_client(world["ops"]).get("/api/v1/endpoints", q=NUL).status_code == 400


def test_unstorable_text_in_a_query_string_is_a_400_naming_the_parameter(world, api_client):
    response = api_client(world["admin"]).get("/api/v1/endpoints", q=NUL)
    assert response.status_code == 400
    assert response.json() == {"errors": {"q": [inputs.NUL_MESSAGE]}}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/workspaces/fz%00ws/keys",
        "/api/v1/vpcs/vpc-%00",
        "/workspaces/team-a/models/qwen%00plus/toggle/",
        "/workspaces/fz%00ws/",
    ],
)
def test_a_nul_in_the_path_is_not_found(world, client_for, api_client, path):
    if path.startswith("/api/"):
        response = api_client(world["admin"]).get(path)
        assert response.json() == {"detail": "Not found."}
    else:
        response = client_for(world["admin"]).post(path)
    assert response.status_code == 404


def test_a_nul_in_a_page_query_string_is_a_400_page(world, client_for):
    response = client_for(world["admin"]).get("/audit/", {"q": NUL})
    assert response.status_code == 400
    assert "&#x27;q&#x27; parameter: Null characters are not allowed." in response.content.decode()


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_USER_AGENT": "curl\x00"},
        {"HTTP_COOKIE": "sessionid=abc\x00def"},
        {"HTTP_X_FORWARDED_FOR": "10.0.0.1\x00"},
        {"HTTP_AUTHORIZATION": "Bearer ap_\x00" + "a" * 40},
    ],
)
def test_a_nul_in_a_header_or_cookie_is_a_400(world, client, headers):
    response = client.post("/login/", {"username": "x", "password": "y"}, **headers)
    assert response.status_code == 400
    response = client.get("/api/v1/me", **headers)
    assert response.status_code == 400 and "errors" in response.json()


@pytest.mark.parametrize(
    "header", ["Bearer ap_" + "a" * 10_000, "Bearer ap_é" + "a" * 40, "Bearer ap_" + "-" * 48]
)
def test_a_malformed_token_is_a_401_without_a_query(
    world, client, header, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/api/v1/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


# -- not JSON, not a number, too big ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"name": "x", "monthly_budget": NaN}', "NaN and Infinity"),
        ('{"name": "x", "monthly_budget": Infinity}', "NaN and Infinity"),
        ('{"name": "x", "monthly_budget": 1e999}', "too large a number"),
        (b"\xff\xfe{}", "not valid JSON"),
        ('"a string"', "Send a JSON object"),
        ("[]", "Send a JSON object"),
    ],
)
def test_a_body_that_is_not_a_strict_json_object_is_a_400(world, client, api_client, body, words):
    api = api_client(world["admin"])
    for method, path in [("post", "/api/v1/workspaces"), ("patch", "/api/v1/vpcs/vpc-bjtest01")]:
        response = getattr(client, method)(
            path, body, content_type="application/json", **api.headers
        )
        assert response.status_code == 400  # a string is not an empty PATCH
        assert words in " ".join(response.json()["errors"]["__all__"])


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_upload_limit_is_a_json_413(world, api_client, client_for):
    api = api_client(world["admin"])
    before = counts()
    response = api.post("/api/v1/workspaces", json.dumps({**WORKSPACE, "name": "x" * 2000}))
    assert response.status_code == 413
    assert response.json() == {"detail": "The body is larger than the limit of 1,000 bytes."}
    page = client_for(world["admin"]).post("/workspaces/new/", {**WORKSPACE, "name": "x" * 2000})
    assert page.status_code == 413 and "too large" in page.content.decode()
    assert counts() == before


# -- JSON everywhere under /api/ -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/", "/api/v1/nothing", "/api/v1/endpoints/1/nothing", "/api/"]
)
def test_unknown_api_routes_are_a_json_404(world, api_client, path):
    for user in (None, world["admin"]):
        response = api_client(user).get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


def test_a_method_a_route_lacks_is_a_json_405(world, api_client):
    response = api_client(world["admin"]).put("/api/v1/me", "{}")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method not allowed."}
    assert response["Allow"] == "GET"


def test_a_refused_host_is_a_json_400_under_the_api(world, client):
    response = client.get("/api/v1/me", HTTP_HOST="evil.example")
    assert response.status_code == 400 and "errors" in response.json()


# -- unknown choices ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field", "words"),
    [
        ("/api/v1/workspaces", {**WORKSPACE, "scope": "galaxy"}, "scope", "not a deployment scope"),
        ("/api/v1/workspaces", {**WORKSPACE, "currency": "EUR"}, "currency", "not a valid choice"),
        ("/api/v1/endpoints", {**ENDPOINT, "kind": "galaxy"}, "kind", "Unknown kind 'galaxy'"),
        (
            "/api/v1/endpoints",
            {**ENDPOINT, "api_style": "galaxy"},
            "api_style",
            "Unknown API style",
        ),
        ("/api/v1/endpoints", {**ENDPOINT, "check_model": "galaxy"}, "check_model", "Unknown"),
        (
            "/api/v1/endpoints",
            {**ENDPOINT, "service_region": "galaxy"},
            "service_region",
            "Unknown",
        ),
        ("/api/v1/vpcs", {**VPC, "region": "galaxy"}, "region", "Unknown region"),
        ("/api/v1/vpcs", {**VPC, "connected_vpcs": ["vpc-galaxy"]}, "connected_vpcs", "Unknown"),
    ],
)
def test_an_unknown_choice_is_a_400_with_the_choices(world, api_client, path, body, field, words):
    api = api_client(world["admin"])
    before = counts()
    response = api.post(path, json.dumps(body))
    assert response.status_code == 400, response.content
    assert any(words in m for m in response.json()["errors"][field]), response.json()
    assert counts() == before


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"status": "bogus"}, "status", "'bogus' is not a status; statuses: unknown, up"),
        ({"kind": "galaxy"}, "kind", "'galaxy' is not a kind"),
        ({"diagnosis": "galaxy"}, "diagnosis", "'galaxy' is not a diagnosis"),
        ({"region": "mars-1"}, "region", "Unknown region 'mars-1'"),
        ({"vpc": "vpc-nowhere"}, "vpc", "Unknown VPC"),
        ({"vpc": "²"}, "vpc", "Unknown VPC"),
        ({"workspace": "nobody"}, "workspace", "Unknown workspace"),
        ({"limit": -1}, "limit", "greater than or equal to 1"),
        ({"limit": 10_001}, "limit", "less than or equal to 10000"),
        ({"offset": -1}, "offset", "greater than or equal to 0"),
        ({"limit": "many"}, "limit", "valid integer"),
    ],
)
def test_every_query_parameter_is_validated(world, api_client, params, field, words):
    response = api_client(world["admin"]).get("/api/v1/endpoints", **params)
    assert response.status_code == 400
    assert any(words in m for m in response.json()["errors"][field]), response.json()


def test_valid_filters_still_filter(world, api_client):
    api = api_client(world["admin"])
    assert len(api.get("/api/v1/endpoints", status="unknown", vpc="vpc-bjtest01").json()) == 1
    assert len(api.get("/api/v1/endpoints", vpc=str(world["vpc"].pk)).json()) == 1
    assert api.get("/api/v1/endpoints", status="down").json() == []
    assert api.get("/api/v1/endpoints", limit=1, offset=1).json() == []


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_the_probe_history_limit_is_bounded(world, api_client, limit):
    response = api_client(world["admin"]).get(
        f"/api/v1/endpoints/{world['endpoint'].pk}/probes", limit=limit
    )
    assert response.status_code == 400 and "limit" in response.json()["errors"]


def test_the_list_page_ignores_a_bad_filter_with_a_note(world, client_for):
    response = client_for(world["admin"]).get(
        "/endpoints/", {"status": "bogus", "sort": "galaxy", "kind": "public"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "&#x27;bogus&#x27; is not a status" in html and "The status filter was ignored." in html
    assert "&#x27;galaxy&#x27; is not a column to sort by" in html
    assert "No endpoint matches" in html  # kind=public still applied


def test_the_audit_page_ignores_an_unknown_action_with_a_note(world, client_for):
    html = client_for(world["admin"]).get("/audit/", {"action": "galaxy"}).content.decode()
    assert "&#x27;galaxy&#x27; is not an action; the action filter was ignored." in html


# -- bounds ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/endpoints/{endpoint}",
            {"zones": [f"cn-beijing-{n}" for n in range(10_000)]},
            "zones",
        ),
        ("/api/v1/endpoints/{endpoint}", {"zones": ["cn-beijing-" + "a" * 100]}, "zones.0"),
        ("/api/v1/endpoints/{endpoint}", {"interval_s": 10**30}, "interval_s"),
        ("/api/v1/endpoints/{endpoint}", {"interval_s": 5}, "interval_s"),
        ("/api/v1/endpoints/{endpoint}", {"latency_threshold_ms": 10**9}, "latency_threshold_ms"),
        (
            "/api/v1/vpcs/vpc-bjtest01",
            {"host_overrides": {f"h{n}.x": "10.0.0.1" for n in range(101)}},
            "host_overrides",
        ),
        ("/api/v1/vpcs/vpc-bjtest01", {"connected_vpcs": ["vpc-a"] * 101}, "connected_vpcs"),
        ("/api/v1/workspaces/team-a/models", {"models": ["m" * 81]}, "models.0"),
        ("/api/v1/workspaces/team-a/models", {"models": ["qwen-plus"] * 501}, "models"),
    ],
)
def test_every_number_and_list_has_an_upper_bound(world, api_client, path, body, field):
    api = api_client(world["admin"])
    before = counts()
    method = api.put if path.endswith("models") else api.patch
    response = method(path.format(endpoint=world["endpoint"].pk), json.dumps(body))
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert counts() == before


def test_the_bounds_are_in_the_openapi_schema(client, db):
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    zones = schemas["EndpointIn"]["properties"]["zones"]
    assert zones["maxItems"] == 20 and zones["items"]["maxLength"] == 40
    assert schemas["VpcIn"]["properties"]["host_overrides"]["maxProperties"] == 100
    assert schemas["EndpointIn"]["properties"]["interval_s"]["maximum"] == 86_400


def test_the_zone_rule_refuses_too_many_duplicates_and_another_regions(world):
    endpoint = world["endpoint"]
    for zones, words in [
        ([f"cn-beijing-{n}" for n in range(10_000)], "10,000 zones"),
        (["cn-beijing-a", "cn-beijing-a"], "listed twice"),
        (["cn-beijing-a", "ap-southeast-1a"], "not a zone of China (Beijing)"),
    ]:
        endpoint.zones = zones
        with pytest.raises(Exception) as error:
            check_endpoint(endpoint)
        assert any(words in m for m in error.value.message_dict["zones"]), error.value


def test_the_form_refuses_too_many_host_overrides(world, client_for):
    overrides = "\n".join(f"h{n}.example = 10.0.0.1" for n in range(101))
    response = client_for(world["admin"]).post(
        "/vpcs/new/", {**VPC, "resolver": "100.100.2.136", "host_overrides": overrides}
    )
    assert response.status_code == 422
    assert "101 records: give at most 100" in response.content.decode()
    assert not Vpc.objects.filter(vpc_id=VPC["vpc_id"]).exists()


# -- the other measured cases ------------------------------------------------------------------


def test_patch_with_null_for_a_required_field_is_refused(world, api_client):
    endpoint = world["endpoint"]
    response = api_client(world["admin"]).patch(
        f"/api/v1/endpoints/{endpoint.pk}", json.dumps({"url": None, "name": None})
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "url": ["This field cannot be null."],
        "name": ["This field cannot be null."],
    }
    endpoint.refresh_from_db()
    assert endpoint.url.startswith("http://ep-abc123")


def test_an_ops_user_cannot_be_made_lead_by_add_user(world):
    with pytest.raises(CommandError, match="cannot lead a workspace"):
        call_command("add_user", "oscar-ops", "--role", "ops", "--workspace", "team-a")
    assert not world["ops"].memberships.exists()


def test_an_ops_user_cannot_be_made_lead_on_the_page(world, client_for):
    response = client_for(world["admin"]).post(
        "/workspaces/team-a/members/", {"username": "oscar-ops", "is_lead": "on"}
    )
    assert response.status_code == 422
    assert "only team leads lead workspaces" in response.content.decode()
    assert not world["ops"].memberships.exists()


def test_a_us_scope_workspace_is_granted_only_us_models(world, api_client, make_workspace):
    us = make_workspace("us-team", region="us-east-1")
    us.scope = "us"
    us.save()
    api = api_client(world["admin"])
    response = api.put("/api/v1/workspaces/us-team/models", json.dumps({"models": ["qwen-plus"]}))
    assert response.status_code == 400
    assert "calls only the -us models" in response.json()["errors"]["models"][0]
    assert not us.grants.exists()
    response = api.put(
        "/api/v1/workspaces/us-team/models", json.dumps({"models": ["qwen-plus-us"]})
    )
    assert response.status_code == 200


def test_a_token_name_with_a_nul_is_refused_and_not_stored(world, client_for):
    response = client_for(world["ops"]).post("/profile/tokens/", {"name": "ci\x00"})
    assert response.status_code == 400
    assert not ApiToken.objects.filter(user=world["ops"]).exists()
