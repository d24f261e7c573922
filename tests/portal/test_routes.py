"""Every route has a rule: each URL pattern and each API operation is in the matrix below, and
each rule says what every role gets (200/302/403/404 as designed, 401 for the API).

`test_every_url_pattern_has_a_rule` and `test_every_api_operation_has_a_rule` enumerate the
URL map (`get_resolver()`) and the OpenAPI document: a route added without a rule fails them,
and a rule left behind by a removed route fails them too. The Django admin is one rule (admins
only, every registered model's list and add pages); static and media files are not routes.

Personas: anonymous, admin, ops, and the lead of workspace A (team-a). Workspace B (team-b)
has another lead, so team-a's lead gets 404 there: what is not yours is not found.
"""

import json
from datetime import timedelta

import pytest
from django.contrib import admin as django_admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from endpoints.agents.services import add_agent
from endpoints.probes.models import ProbeRun
from endpoints.status.models import Incident, MaintenanceWindow
from portal.accounts.models import ApiToken
from portal.alerts.models import Channel
from portal.alerts.services import save_channel
from portal.costs.models import ModelPrice
from portal.costs.services import upload_bill
from portal.workspaces.models import CatalogModel
from tests.conftest import random_key
from tests.costs.conftest import bill_csv, bill_row

ANON, LEAD, OPS, ADMIN = "anon", "lead", "ops", "admin"
PERSONAS = (ANON, LEAD, OPS, ADMIN)  # the order each rule is tried in: admin's writes last


def everyone(status):
    return dict.fromkeys(PERSONAS, status)


def pages(admin, ops=403, lead=403, anon=302):
    return {ANON: anon, LEAD: lead, OPS: ops, ADMIN: admin}


def api(admin, ops=403, lead=403, anon=401):
    return {ANON: anon, LEAD: lead, OPS: ops, ADMIN: admin}


VIEW_ENDPOINTS = pages(200, ops=200)
VIEW_WORKSPACES = pages(200, ops=200, lead=200)
VIEW_COSTS = pages(200, lead=200)  # ops see no money
MARCH = "range=custom&start=2026-03-01&end=2026-03-31"

# URL name → [(method, path, form data, {persona: status}), ...]. Paths are formatted with the
# world below. require_POST pages also say that a GET is refused (405, after the role check).
PAGES = {
    "login": [("get", "/login/", None, {ANON: 200, LEAD: 302, OPS: 302, ADMIN: 302})],
    "logout": [("post", "/logout/", None, everyone(302))],
    "home": [("get", "/", None, everyone(302))],
    "profile": [("get", "/profile/", None, pages(200, ops=200, lead=200))],
    "token-create": [
        ("post", "/profile/tokens/", {"name": "ci"}, pages(200, ops=200, lead=200)),
        ("get", "/profile/tokens/", None, pages(405, ops=405, lead=405)),
    ],
    "token-revoke": [
        ("post", "/profile/tokens/{token}/revoke/", None, pages(302, ops=404, lead=404)),
    ],
    "audit-list": [("get", "/audit/", None, pages(200))],
    "workspace-list": [("get", "/workspaces/", None, VIEW_WORKSPACES)],
    "workspace-create": [("get", "/workspaces/new/", None, pages(200))],
    "workspace-scope-options": [
        ("get", "/workspaces/scope-options/?region=cn-beijing", None, pages(200))
    ],
    "workspace-detail": [
        ("get", "/workspaces/team-a/", None, VIEW_WORKSPACES),
        ("get", "/workspaces/team-b/", None, pages(200, ops=200, lead=404)),
        ("get", "/workspaces/nobody/", None, pages(404, ops=404, lead=404)),
    ],
    "workspace-edit": [("get", "/workspaces/team-a/edit/", None, pages(200))],
    "workspace-delete": [("get", "/workspaces/team-b/delete/", None, pages(200))],
    "workspace-key-add": [
        ("post", "/workspaces/team-a/keys/", {"label": "k", "secret": "{secret}"}, pages(200)),
        ("get", "/workspaces/team-a/keys/", None, pages(405)),
    ],
    "workspace-key-revoke": [
        ("post", "/workspaces/team-a/keys/{key}/revoke/", None, pages(200)),
        ("post", "/workspaces/team-a/keys/{key_b}/revoke/", None, pages(404)),  # team-b's key
    ],
    "workspace-model-toggle": [
        ("post", "/workspaces/team-a/models/qwen-max/toggle/", None, pages(200)),
        ("post", "/workspaces/team-a/models/no-such-model/toggle/", None, pages(404)),
    ],
    "workspace-member-add": [
        (
            "post",
            "/workspaces/team-a/members/",
            {"username": "leo-lead-b", "is_lead": "on"},
            pages(200),
        ),
    ],
    "workspace-member-remove": [
        ("post", "/workspaces/team-a/members/{membership}/remove/", None, pages(200)),
    ],
    "cost-split": [
        ("get", "/costs/", None, VIEW_COSTS),
        ("get", "/costs/?workspace=team-b", None, pages(200, lead=404)),
        ("get", f"/costs/?{MARCH}&format=csv", None, VIEW_COSTS),
    ],
    "cost-workspace": [
        ("get", "/costs/workspaces/team-a/", None, VIEW_COSTS),
        ("get", "/costs/workspaces/team-b/", None, pages(200, lead=404)),
        ("get", f"/costs/workspaces/team-a/?{MARCH}&format=csv&table=days", None, VIEW_COSTS),
    ],
    "cost-reconciliation": [
        ("get", "/costs/reconciliation/?month=2026-03", None, VIEW_COSTS),
        (
            "get",
            "/costs/reconciliation/?month=2026-03&workspace=team-b",
            None,
            pages(200, lead=404),
        ),
    ],
    "cost-prices": [("get", "/costs/prices/", None, VIEW_COSTS)],
    "cost-price-create": [("get", "/costs/prices/new/", None, pages(200))],
    "cost-price-edit": [("get", "/costs/prices/{price}/edit/", None, pages(200))],
    "cost-price-delete": [
        ("get", "/costs/prices/{price}/delete/", None, pages(405)),
        ("post", "/costs/prices/{spare_price}/delete/", None, pages(302)),
    ],
    # Leads import their own workspaces' bills; an admin's upload is not theirs to see.
    "cost-bills": [("get", "/costs/bills/", None, VIEW_COSTS)],
    "cost-bill": [
        ("get", "/costs/bills/{bill}/", None, pages(200, lead=404)),
        ("get", "/costs/bills/{lead_bill}/", None, VIEW_COSTS),
    ],
    "cost-bill-mapping": [
        ("get", "/costs/bills/{bill}/mapping/", None, pages(405, lead=405)),
        ("post", "/costs/bills/{bill}/mapping/", None, pages(302, lead=404)),
    ],
    "cost-bill-confirm": [
        ("get", "/costs/bills/{lead_bill}/confirm/", None, pages(405, lead=405)),
    ],
    "cost-bill-progress": [("get", "/costs/bills/{bill}/progress/", None, pages(200, lead=404))],
    "cost-bill-problems": [
        ("get", "/costs/bills/{bill}/unmapped.csv", None, pages(200, lead=404)),
    ],
    "vpc-list": [("get", "/vpcs/", None, VIEW_ENDPOINTS)],
    "vpc-create": [("get", "/vpcs/new/", None, pages(200))],
    "vpc-detail": [
        ("get", "/vpcs/{vpc}/", None, VIEW_ENDPOINTS),
        ("get", "/vpcs/999999/", None, pages(404, ops=404)),
    ],
    "vpc-edit": [("get", "/vpcs/{vpc}/edit/", None, pages(200))],
    "vpc-delete": [("get", "/vpcs/{spare_vpc}/delete/", None, pages(200))],
    "endpoint-list": [("get", "/endpoints/", None, VIEW_ENDPOINTS)],
    "endpoint-create": [("get", "/endpoints/new/", None, pages(200))],
    "endpoint-form-for-kind": [("get", "/endpoints/form/?kind=public", None, pages(200))],
    "endpoint-validate": [
        ("post", "/endpoints/validate/?field=name", {"kind": "public"}, pages(200)),
        ("get", "/endpoints/validate/", None, pages(405)),
    ],
    "endpoint-parse-url": [
        ("post", "/endpoints/parse-url/", {"paste": "https://dashscope.aliyuncs.com"}, pages(200)),
    ],
    "endpoint-detail": [
        ("get", "/endpoints/{endpoint}/", None, VIEW_ENDPOINTS),
        ("get", "/endpoints/999999/", None, pages(404, ops=404)),
    ],
    "endpoint-edit": [("get", "/endpoints/{endpoint}/edit/", None, pages(200))],
    "endpoint-delete": [("get", "/endpoints/{endpoint}/delete/", None, pages(200))],
    "endpoint-probe": [
        ("post", "/endpoints/{endpoint}/probe/", None, pages(302, ops=302)),
        ("get", "/endpoints/{endpoint}/probe/", None, pages(405, ops=405)),
    ],
    "probe-board": [("get", "/probes/", None, VIEW_ENDPOINTS)],
    "probe-all": [("post", "/probes/all/", None, pages(302, ops=302))],
    "probe-run": [("get", "/probes/runs/{run}/", None, VIEW_ENDPOINTS)],
    "vpc-agents": [("get", "/vpcs/{vpc}/agents/", None, VIEW_ENDPOINTS)],
    "vpc-agent-add": [
        ("post", "/vpcs/{vpc}/agents/add/", {"name": "agent-new"}, pages(200)),
        ("get", "/vpcs/{vpc}/agents/add/", None, pages(405)),
    ],
    "vpc-agent-revoke": [
        ("post", "/vpcs/{vpc}/agents/{agent}/revoke/", None, pages(200)),
        ("post", "/vpcs/{spare_vpc}/agents/{agent}/revoke/", None, pages(404)),  # another VPC's
    ],
    "incident-list": [("get", "/incidents/", None, VIEW_ENDPOINTS)],
    "incident-detail": [
        ("get", "/incidents/{incident}/", None, VIEW_ENDPOINTS),
        ("get", "/incidents/999999/", None, pages(404, ops=404)),
    ],
    "incident-ack": [
        ("post", "/incidents/{incident}/ack/", {"note": "on it"}, pages(302, ops=302)),
        ("get", "/incidents/{incident}/ack/", None, pages(405, ops=405)),
    ],
    "maintenance-list": [
        ("get", "/maintenance/", None, VIEW_ENDPOINTS),
        ("post", "/maintenance/", {"name": ""}, pages(422, ops=404)),  # ops may look, not plan
    ],
    "maintenance-delete": [("post", "/maintenance/{window}/delete/", None, pages(302))],
    "sla-report": [
        ("get", "/workspaces/team-a/sla/", None, VIEW_WORKSPACES),
        ("get", "/workspaces/team-b/sla/", None, pages(200, ops=200, lead=404)),
    ],
    "channel-list": [("get", "/alerts/", None, pages(200))],
    "channel-detail": [
        ("get", "/alerts/{channel}/", None, pages(200)),
        ("get", "/alerts/999999/", None, pages(404)),
    ],
    "channel-test": [
        ("post", "/alerts/{channel}/test/", None, pages(302)),
        ("get", "/alerts/{channel}/test/", None, pages(405)),
    ],
    "channel-delete": [("post", "/alerts/{spare_channel}/delete/", None, pages(302))],
    # Prometheus's scrape: its own bearer token (PORTAL_METRICS_TOKEN, tested in
    # tests/status/test_metrics.py); with none set it does not exist, for anyone.
    "metrics": [("get", "/metrics", None, everyone(404))],
    # The API's own pages: its schema and reference are public (they describe, never answer).
    "api:openapi-json": [("get", "/api/v1/openapi.json", None, everyone(200))],
    "api:openapi-view": [("get", "/api/v1/docs", None, everyone(200))],
    "api:api-root": [("get", "/api/v1/", None, everyone(404))],
}

# (METHOD, OpenAPI path) → [(path, JSON body, {persona: status}), ...]
WORKSPACE = {
    "name": "New team",
    "slug": "new-team",
    "workspace_id": "llm-newteam01",
    "region": "cn-beijing",
    "scope": "mainland",
}
VPC = {"vpc_id": "vpc-new00001", "name": "new", "region": "cn-beijing", "cidr": "10.99.0.0/16"}
ENDPOINT = {
    "name": "new endpoint",
    "kind": "privatelink_default",
    "url": "http://ep-new00001.dashscope.cn-beijing.privatelink.aliyuncs.com",
    "region": "cn-beijing",
    "vpc": "vpc-bjtest01",
    "zones": ["cn-beijing-a", "cn-beijing-b"],
    "allows_80_443": True,
    "workspace": "team-a",
}
API = {
    ("GET", "/api/v1/me"): [("/api/v1/me", None, api(200, ops=200, lead=200))],
    ("GET", "/api/v1/workspaces"): [("/api/v1/workspaces", None, api(200, ops=200, lead=200))],
    ("POST", "/api/v1/workspaces"): [("/api/v1/workspaces", WORKSPACE, api(201))],
    ("GET", "/api/v1/workspaces/{slug}/keys"): [
        ("/api/v1/workspaces/team-a/keys", None, api(200, ops=200, lead=200)),
        ("/api/v1/workspaces/team-b/keys", None, api(200, ops=200, lead=404)),
    ],
    ("POST", "/api/v1/workspaces/{slug}/keys"): [
        ("/api/v1/workspaces/team-a/keys", {"label": "k", "secret": "{secret}"}, api(201)),
    ],
    ("DELETE", "/api/v1/workspaces/{slug}/keys/{key_id}"): [
        ("/api/v1/workspaces/team-a/keys/{key}", None, api(204)),
        ("/api/v1/workspaces/team-a/keys/{key_b}", None, api(404)),  # team-b's key
    ],
    ("GET", "/api/v1/workspaces/{slug}/models"): [
        ("/api/v1/workspaces/team-a/models", None, api(200, ops=200, lead=200)),
        ("/api/v1/workspaces/team-b/models", None, api(200, ops=200, lead=404)),
    ],
    ("PUT", "/api/v1/workspaces/{slug}/models"): [
        ("/api/v1/workspaces/team-a/models", {"models": ["qwen-plus"]}, api(200)),
    ],
    ("GET", "/api/v1/vpcs"): [("/api/v1/vpcs", None, api(200, ops=200))],
    ("POST", "/api/v1/vpcs"): [("/api/v1/vpcs", VPC, api(201))],
    ("GET", "/api/v1/vpcs/{vpc_id}"): [
        ("/api/v1/vpcs/vpc-bjtest01", None, api(200, ops=200)),
        ("/api/v1/vpcs/vpc-nowhere", None, api(404, ops=404)),
    ],
    ("PATCH", "/api/v1/vpcs/{vpc_id}"): [("/api/v1/vpcs/vpc-bjtest01", {"name": "x"}, api(200))],
    ("DELETE", "/api/v1/vpcs/{vpc_id}"): [("/api/v1/vpcs/vpc-spare001", None, api(204))],
    ("GET", "/api/v1/endpoints"): [("/api/v1/endpoints", None, api(200, ops=200))],
    ("POST", "/api/v1/endpoints"): [("/api/v1/endpoints", ENDPOINT, api(201))],
    ("GET", "/api/v1/endpoints/{endpoint_id}"): [
        ("/api/v1/endpoints/{endpoint}", None, api(200, ops=200)),
        ("/api/v1/endpoints/999999", None, api(404, ops=404)),
    ],
    ("PATCH", "/api/v1/endpoints/{endpoint_id}"): [
        ("/api/v1/endpoints/{endpoint}", {"interval_s": 120}, api(200)),
    ],
    ("DELETE", "/api/v1/endpoints/{endpoint_id}"): [
        ("/api/v1/endpoints/{endpoint}", None, api(204)),
    ],
    ("GET", "/api/v1/endpoints/{endpoint_id}/snippets"): [
        ("/api/v1/endpoints/{endpoint}/snippets", None, api(200, ops=200)),
    ],
    ("GET", "/api/v1/endpoints/{endpoint_id}/probes"): [
        ("/api/v1/endpoints/{endpoint}/probes", None, api(200, ops=200)),
    ],
    ("POST", "/api/v1/endpoints/{endpoint_id}/probe"): [
        ("/api/v1/endpoints/{endpoint}/probe", None, api(202, ops=202)),
    ],
    ("GET", "/api/v1/vpcs/{vpc_id}/agents"): [
        ("/api/v1/vpcs/vpc-bjtest01/agents", None, api(200, ops=200)),
    ],
    ("POST", "/api/v1/vpcs/{vpc_id}/agents"): [
        ("/api/v1/vpcs/vpc-bjtest01/agents", {"name": "agent-api"}, api(201)),
    ],
    ("DELETE", "/api/v1/vpcs/{vpc_id}/agents/{agent_id}"): [
        ("/api/v1/vpcs/vpc-bjtest01/agents/{agent}", None, api(204)),
        ("/api/v1/vpcs/vpc-spare001/agents/{agent}", None, api(404)),
    ],
    # The agents' own calls take an agent's token: a person's token is not one.
    **{
        ("POST", f"/api/v1/agent/{call}"): [(f"/api/v1/agent/{call}", body, everyone(401))]
        for call, body in (
            ("hello", {"public_key": "x", "version": "1"}),
            ("lease", {}),
            ("results", {"results": []}),
            ("heartbeat", {}),
        )
    },
    ("GET", "/api/v1/costs"): [
        ("/api/v1/costs?start=2026-03-01&end=2026-03-31", None, api(200, lead=200)),
        (
            "/api/v1/costs?start=2026-03-01&end=2026-03-31&workspace=team-b",
            None,
            api(200, lead=404),
        ),
    ],
    ("GET", "/api/v1/costs/reconciliation"): [
        ("/api/v1/costs/reconciliation?month=2026-03", None, api(200, lead=200)),
    ],
    ("GET", "/api/v1/prices"): [("/api/v1/prices", None, api(200, lead=200))],
    ("POST", "/api/v1/prices"): [
        (
            "/api/v1/prices",
            {
                "model": "qwen-plus",
                "region": "cn-beijing",
                "effective_from": "2030-01-01",
                "currency": "CNY",
                "input_per_million": "0.8",
                "output_per_million": "2",
            },
            api(201),
        ),
    ],
    ("POST", "/api/v1/usage"): [
        (
            "/api/v1/usage",
            [
                {
                    "workspace": "team-a",
                    "model": "qwen-plus",
                    "date": "2026-03-02",
                    "input_tokens": 1000,
                    "output_tokens": 10,
                    "requests": 1,
                }
            ],
            api(201),
        ),
    ],
    ("GET", "/api/v1/incidents"): [("/api/v1/incidents", None, api(200, ops=200))],
    ("POST", "/api/v1/incidents/{incident_id}/ack"): [
        ("/api/v1/incidents/{incident}/ack", {"note": "on it"}, api(200, ops=200)),
        ("/api/v1/incidents/999999/ack", {}, api(404, ops=404)),
    ],
    ("GET", "/api/v1/maintenance"): [("/api/v1/maintenance", None, api(200, ops=200))],
    ("POST", "/api/v1/maintenance"): [
        (
            "/api/v1/maintenance",
            {
                "name": "patching",
                "starts_at": "2030-01-06T02:00:00+08:00",
                "ends_at": "2030-01-06T04:00:00+08:00",
            },
            api(201),
        ),
    ],
    ("GET", "/api/v1/channels"): [("/api/v1/channels", None, api(200))],
    ("POST", "/api/v1/channels"): [
        (
            "/api/v1/channels",
            {"name": "api hook", "kind": "webhook", "target": "http://127.0.0.1:9/hook"},
            api(201),
        ),
    ],
    ("POST", "/api/v1/channels/{channel_id}/test"): [
        ("/api/v1/channels/{channel}/test", None, api(200)),
        ("/api/v1/channels/999999/test", None, api(404)),
    ],
}


# -- the enumeration -----------------------------------------------------------------------------


def url_patterns(patterns=None, namespace=""):
    """(route, name) of every URL pattern, namespaces included ('api:me', 'admin:index')."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield str(entry.pattern), f"{namespace}{entry.name or entry.pattern}"


def page_routes() -> set[str]:
    """The URL names the matrix must cover: the admin is one rule; the API's operations are
    covered by API (below), its own pages here."""
    operations = {
        f"api:{op['operationId'].rsplit('_api_', 1)[-1]}" for op in api_operations().values()
    }
    names = set()
    for _route, name in url_patterns():
        if name.startswith("admin:"):
            names.add("admin")
        elif name not in operations:
            names.add(name)
    return names


def api_operations() -> dict[tuple[str, str], dict]:
    from portal.urls import api as ninja_api  # the URL map mounts each app's router

    schema = ninja_api.get_openapi_schema(path_prefix="/api/v1/")
    return {
        (method.upper(), path): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }


def test_every_url_pattern_has_a_rule():
    routes = page_routes()
    covered = set(PAGES) | {"admin"}
    assert not routes - covered, f"URL patterns without a rule in PAGES: {sorted(routes - covered)}"
    assert not covered - routes, (
        f"rules for routes that no longer exist: {sorted(covered - routes)}"
    )


def test_every_api_operation_has_a_rule():
    operations = set(api_operations())
    assert not operations - set(API), (
        f"API operations without a rule: {sorted(operations - set(API))}"
    )
    assert not set(API) - operations, f"rules for gone operations: {sorted(set(API) - operations)}"


def test_the_enumeration_sees_the_api_operations_as_url_patterns_too():
    names = {name for _route, name in url_patterns()}
    assert {"api:list_endpoints", "api:trigger_probe", "workspace-detail", "admin:index"} <= names


# -- the matrix --------------------------------------------------------------------------------


@pytest.fixture
def world(admin, ops, lead_a, lead_b, workspace_a, workspace_b, make_vpc, make_endpoint):
    vpc = make_vpc()
    spare = make_vpc("vpc-spare001")
    endpoint = make_endpoint(vpc=vpc, workspace=workspace_a, allows_80_443=True)
    token, _ = ApiToken.issue(admin, "admin's token")
    run = ProbeRun.objects.create(requested_by=ops, total=1)
    agent, _ = add_agent(vpc, "agent-a", actor=admin)
    incident = Incident.objects.create(
        endpoint=endpoint,
        location="central",
        status="down",
        diagnosis="tcp_timeout",
        message="No TCP answer",
        opened_at=timezone.now(),
    )
    window = MaintenanceWindow.objects.create(
        name="w", starts_at=timezone.now(), ends_at=timezone.now() + timedelta(hours=1)
    )
    # Channels deliver to a closed port on loopback: a test message fails fast, stays here.
    channel, spare_channel = (
        save_channel(
            Channel(name=name, kind="webhook"), actor=admin, target="http://127.0.0.1:9/hook"
        )
        for name in ("on-call", "spare")
    )
    bill = upload_bill(
        bill_csv([bill_row(workspace_b, day="2026-03-09", amount="1.00")]), "b.csv", actor=None
    )
    lead_bill = upload_bill(
        bill_csv([bill_row(workspace_a, day="2026-03-09", amount="1.00")]), "a.csv", actor=lead_a
    )
    spare_price = ModelPrice.objects.create(
        model=CatalogModel.objects.get(name="qwen-max"),
        region_id="cn-beijing",
        effective_from="2031-01-01",
        currency="CNY",
        input_per_million="2.4",
        output_per_million="9.6",
    )
    return {
        "bill": bill.pk,
        "lead_bill": lead_bill.pk,
        "price": ModelPrice.objects.exclude(pk=spare_price.pk).first().pk,
        "spare_price": spare_price.pk,
        ADMIN: admin,
        OPS: ops,
        LEAD: lead_a,
        ANON: None,
        "endpoint": endpoint.pk,
        "vpc": vpc.pk,
        "spare_vpc": spare.pk,
        "token": token.pk,
        "key": workspace_a.api_keys.get().pk,
        "key_b": workspace_b.api_keys.get().pk,
        "membership": workspace_a.memberships.get(user=lead_a).pk,
        "run": run.pk,
        "agent": agent.pk,
        "incident": incident.pk,
        "window": window.pk,
        "channel": channel.pk,
        "spare_channel": spare_channel.pk,
    }


def _format(value, world, secret):
    if isinstance(value, str):
        return value.format(**world, secret=secret)
    if isinstance(value, dict):
        return {k: _format(v, world, secret) for k, v in value.items()}
    return value


def page_cases():
    for name, checks in PAGES.items():
        for method, path, data, expected in checks:
            yield pytest.param(method, path, data, expected, id=f"{name}-{method}-{path}")


@pytest.mark.parametrize(("method", "path", "data", "expected"), list(page_cases()))
def test_each_role_gets_the_designed_answer_on_each_page(
    world, client_for, method, path, data, expected
):
    got = {}
    for persona in PERSONAS:
        client = client_for(world[persona])
        url = path.format(**world)
        response = getattr(client, method)(url, _format(data, world, random_key()) or {})
        got[persona] = response.status_code
        if persona == ANON and response.status_code == 302:
            assert response["Location"].startswith("/login/"), response["Location"]
    assert got == expected


@pytest.mark.parametrize(
    ("operation", "path", "body", "expected"),
    [
        pytest.param(op, path, body, expected, id=f"{op[0]} {path}")
        for op, checks in API.items()
        for path, body, expected in checks
    ],
)
def test_each_role_gets_the_designed_answer_on_each_api_operation(
    world, api_client, operation, path, body, expected
):
    method = operation[0].lower()
    got = {}
    for persona in PERSONAS:
        client = api_client(world[persona])
        url = path.format(**world)
        if method in ("get", "delete"):
            response = getattr(client, method)(url)
        else:
            data = "" if body is None else json.dumps(_format(body, world, random_key()))
            response = getattr(client, method)(url, data)
        got[persona] = response.status_code
        if response.status_code >= 400:
            assert set(response.json()) == {"detail"}, response.content  # the documented shape
    assert got == expected


def test_the_django_admin_is_for_admins_only(world, client_for):
    """One rule for the whole admin: every registered model's list and add page."""
    urls = ["/admin/"]
    for model in django_admin.site._registry:
        meta = model._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        if django_admin.site._registry[model].has_add_permission(_Request(world[ADMIN])):
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    for persona in PERSONAS:
        client = client_for(world[persona])
        for url in urls:
            response = client.get(url)
            if persona == ADMIN:
                assert response.status_code == 200, (url, response.status_code)
            else:  # signed in or not: the admin's own login page, never the content
                assert response.status_code == 302, (persona, url, response.status_code)
                assert response["Location"].startswith("/admin/login/")


class _Request:
    def __init__(self, user):
        self.user = user
