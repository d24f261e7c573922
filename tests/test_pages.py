"""The registry, probe board, costs and audit pages, as their users see them."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from endpoints.network.models import Endpoint
from endpoints.network.services import checklist
from endpoints.network.snippets import snippets_for
from endpoints.probes.models import ProbeResult
from portal.audit.models import AuditEntry
from portal.costs.models import UsageRecord


@pytest.fixture
def many_endpoints(workspace_a, make_vpc):
    vpc = make_vpc()

    def make(count, start=0):
        rows = [
            Endpoint(
                name=f"endpoint {n:04d}",
                kind="privatelink_default",
                url=f"http://ep-many{n:04d}.dashscope.cn-beijing.privatelink.aliyuncs.com",
                host=f"ep-many{n:04d}.dashscope.cn-beijing.privatelink.aliyuncs.com",
                region_id="cn-beijing",
                vpc=vpc,
                workspace=workspace_a,
                zones=["cn-beijing-a", "cn-beijing-b"],
                status=["up", "down", "degraded"][n % 3],
                diagnosis=["ok", "tcp_timeout", "slow"][n % 3],
                status_message="something happened",
                last_total_ms=float(n),
                last_probe_at=timezone.now(),
            )
            for n in range(start, start + count)
        ]
        Endpoint.objects.bulk_create(rows)

    return make


def test_the_list_costs_the_same_queries_for_5_or_50_rows(client_for, admin, many_endpoints):
    client = client_for(admin)
    many_endpoints(5)
    with CaptureQueriesContext(connection) as five:
        client.get("/endpoints/")
    many_endpoints(45, start=5)
    with CaptureQueriesContext(connection) as fifty:
        response = client.get("/endpoints/")
    assert len(fifty.captured_queries) == len(five.captured_queries)
    assert response.content.decode().count('href="/endpoints/') >= 50


def test_the_list_paginates_and_sorts(client_for, admin, many_endpoints):
    many_endpoints(120)
    client = client_for(admin)
    html = client.get("/endpoints/").content.decode()
    assert "1–50 of 120" in html and "endpoint 0000" in html and "endpoint 0050" not in html
    html = client.get("/endpoints/?page=3").content.decode()
    assert "101–120 of 120" in html
    html = client.get("/endpoints/?sort=-latency").content.decode()
    assert html.index("endpoint 0119") < html.index("endpoint 0118")
    assert "Latency ▼" in html


def test_the_list_filters_and_searches(client_for, admin, many_endpoints):
    many_endpoints(30)
    client = client_for(admin)
    html = client.get("/endpoints/?status=down").content.decode()
    assert html.count('<span class="status status-down"') == 10
    html = client.get("/endpoints/?q=0007").content.decode()
    assert "endpoint 0007" in html and "endpoint 0008" not in html
    html = client.get("/endpoints/?q=ep-many0012").content.decode()  # by domain too
    assert "endpoint 0012" in html
    html = client.get("/endpoints/?region=ap-southeast-1").content.decode()
    assert "No endpoint matches" in html


def test_htmx_gets_the_table_fragment(client_for, admin, many_endpoints):
    many_endpoints(3)
    html = client_for(admin).get("/endpoints/?status=up", HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="endpoint-table"') and "<nav" not in html


def test_an_empty_registry_says_what_to_do(client_for, admin, ops):
    assert "Register an endpoint" in client_for(admin).get("/endpoints/").content.decode()
    html = client_for(ops).get("/endpoints/").content.decode()
    assert "No endpoints registered" in html and "Register an endpoint" not in html


def test_the_detail_page_shows_the_checklist_and_the_latest_probe(
    client_for, ops, workspace_a, make_vpc, make_endpoint
):
    endpoint = make_endpoint(
        vpc=make_vpc(), workspace=workspace_a, zones=["cn-beijing-a"], allows_80_443=False
    )
    ProbeResult.objects.create(
        endpoint=endpoint,
        status="down",
        diagnosis="tcp_timeout",
        message="No TCP answer from 10.1.2.3 (port 80) within 5 s.",
        fix="Usually the endpoint's security group drops the traffic",
        failed_phase="connect",
        resolve_ms=1.2,
        total_ms=5001,
        addresses=[
            {
                "address": "10.1.2.3",
                "class": "private",
                "connect_ms": None,
                "ok": False,
                "error": "timeout",
            }
        ],
    )
    html = client_for(ops).get(f"/endpoints/{endpoint.pk}/").content.decode()
    assert "No zone failover" in html
    assert "does not allow inbound TCP 80/443" in html
    assert (
        "tcp_timeout" in html
        and "security group drops" in html
        and "Failed in the TCP phase" in html
    )
    assert "Probe now" in html and "Edit" not in html  # ops may probe, not edit


@pytest.mark.parametrize(
    ("style", "curl_path", "sdk_base"),
    [
        ("openai", "/compatible-mode/v1/chat/completions", "/compatible-mode/v1"),
        ("dashscope", "/api/v1/services/aigc/text-generation/generation", "/api/v1"),
        ("anthropic", "/apps/anthropic/v1/messages", "/apps/anthropic"),
    ],
)
def test_snippets_use_the_base_url_of_the_style(
    workspace_a, make_vpc, make_endpoint, style, curl_path, sdk_base
):
    endpoint = make_endpoint(vpc=make_vpc(), workspace=workspace_a, api_style=style)
    snippets = snippets_for(endpoint)
    origin = "http://ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com"
    assert f"curl -X POST {origin}{curl_path}" in snippets["curl"]
    assert f'base_url="{origin}/compatible-mode/v1"' in snippets["openai_python"]
    assert f'dashscope.base_http_api_url = "{origin}/api/v1"' in snippets["dashscope_python"]
    assert (
        "DASHSCOPE_API_KEY"
        in snippets["curl"] + snippets["openai_python"] + snippets["dashscope_python"]
    )
    assert '"model": "qwen-plus"' in snippets["curl"]
    if style == "anthropic":
        assert f'base_url="{origin}{sdk_base}"' in snippets["anthropic_python"]


def test_eas_snippets_send_the_raw_token(make_vpc, make_endpoint):
    from portal.workspaces.models import EasToken

    token = EasToken(region_id="cn-hangzhou", label="t")
    token.set_secret("ZGI1YWYx1234567890")
    token.save()
    endpoint = make_endpoint(
        kind="eas_vpc",
        url="http://1684.vpc.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/svc",
        region_id="cn-hangzhou",
        api_style="eas",
        eas_token=token,
        vpc=make_vpc(region="cn-hangzhou"),
    )
    snippets = snippets_for(endpoint)
    assert "Authorization: $EAS_TOKEN" in snippets["curl"] and "Bearer" not in snippets["curl"]
    assert "/api/predict/svc/v1/chat/completions" in snippets["curl"]
    assert "ZGI1YWYx1234567890" not in json.dumps(snippets)


def test_edits_and_deletions_are_audited(client_for, admin, workspace_a, make_vpc, make_endpoint):
    endpoint = make_endpoint(vpc=make_vpc(), workspace=workspace_a, allows_80_443=True)
    client = client_for(admin)
    data = {
        "kind": "privatelink_default",
        "name": "renamed",
        "url": endpoint.url,
        "region": "cn-beijing",
        "api_style": "openai",
        "vpc": endpoint.vpc_id,
        "zones": "cn-beijing-a, cn-beijing-b",
        "allows_80_443": "true",
        "workspace": workspace_a.pk,
        "interval_s": 120,
        "latency_threshold_ms": 3000,
        "enabled": "on",
        "security_group": "",
    }
    response = client.post(f"/endpoints/{endpoint.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(action="update", target_type="endpoint")
    assert ("name", "ep", "renamed") in entry.changed_fields
    assert ("interval_s", 60, 120) in entry.changed_fields
    client.post(f"/endpoints/{endpoint.pk}/delete/")
    assert not Endpoint.objects.exists()
    deleted = AuditEntry.objects.get(action="delete")
    assert deleted.target_repr == "renamed" and deleted.actor_label == admin.username


def test_the_probe_board_counts_and_lists_what_needs_attention(client_for, ops, many_endpoints):
    many_endpoints(9)
    html = client_for(ops).get("/probes/").content.decode()
    assert html.count("status-down") >= 3
    assert "tcp_timeout" in html and "security group" in html  # the cause and its fix
    assert "Probe all now" in html


def test_a_lead_sees_only_their_workspaces_costs(client_for, lead_a, workspace_a, workspace_b):
    day = date.today()
    UsageRecord.objects.create(
        workspace=workspace_a,
        model_name="qwen-plus",
        day=day,
        requests=10,
        input_tokens=1000,
        output_tokens=500,
        cost=Decimal("1.25"),
        currency="CNY",
    )
    UsageRecord.objects.create(
        workspace=workspace_b,
        model_name="qwen-max",
        day=day,
        requests=3,
        input_tokens=900,
        output_tokens=90,
        cost=Decimal("9.99"),
        currency="USD",
    )
    client = client_for(lead_a)
    html = client.get("/costs/").content.decode()
    assert "Team A" in html and "Team B" not in html and "9.99" not in html
    csv_text = client.get("/costs/?format=csv").content.decode()
    assert "Team A" in csv_text and "Team B" not in csv_text
    assert csv_text.splitlines()[0].startswith("day,workspace,workspace_id,model")


def test_the_cost_split_draws_a_chart_per_currency(client_for, admin, workspace_a, workspace_b):
    day = date.today()
    for ws, currency in [(workspace_a, "CNY"), (workspace_b, "USD")]:
        UsageRecord.objects.create(
            workspace=ws,
            model_name="qwen-plus",
            day=day,
            requests=1,
            input_tokens=10,
            output_tokens=5,
            cost=Decimal("2.00"),
            currency=currency,
        )
    html = client_for(admin).get("/costs/").content.decode()
    assert html.count("<canvas data-chart=") == 2
    assert "Total CNY" in html and "Total USD" in html


def test_the_audit_page_filters(client_for, admin, workspace_a):
    client = client_for(admin)
    client.post("/workspaces/team-a/models/qwen-max/toggle/")
    client.post("/workspaces/team-a/models/qwen-flash/toggle/")
    client.post("/workspaces/team-a/models/qwen-max/toggle/")
    html = client.get("/audit/?action=revoke").content.decode()
    assert "Team A: qwen-max" in html and "qwen-flash" not in html
    html = client.get(f"/audit/?actor={admin.username}&q=flash").content.decode()
    assert "qwen-flash" in html and "qwen-max" not in html


def test_changes_in_the_django_admin_are_audited_too(client_for, admin, make_vpc):
    vpc = make_vpc("vpc-admin001")
    response = client_for(admin).post(f"/admin/network/vpc/{vpc.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="delete", target_type="VPC")
    assert entry.source == "admin" and entry.changes["before"]["vpc_id"] == "vpc-admin001"


def test_the_edit_form_keeps_the_saved_security_group_answer(
    client_for, admin, workspace_a, make_vpc, make_endpoint
):
    endpoint = make_endpoint(vpc=make_vpc(), workspace=workspace_a, allows_80_443=True)
    html = client_for(admin).get(f"/endpoints/{endpoint.pk}/edit/").content.decode()
    assert '<option value="true" selected>Yes</option>' in html


@pytest.mark.parametrize("query", ["since=garbage", "until=2026-02-30", "since=2026-11-22T00:00"])
def test_bad_audit_dates_are_ignored_with_a_note(client_for, admin, query):
    response = client_for(admin).get(f"/audit/?{query}")
    assert response.status_code == 200
    assert "is not a date" in response.content.decode()


@pytest.mark.parametrize("month", ["9999-12", "2026-13", "last"])
def test_a_bad_month_shows_this_month_with_a_note(client_for, admin, month):
    response = client_for(admin).get(f"/costs/?month={month}")
    assert response.status_code == 200
    assert "is not a month" in response.content.decode()


def test_a_lead_asking_for_another_workspaces_costs_is_told(client_for, lead_a, workspace_b):
    html = client_for(lead_a).get("/costs/?workspace=team-b").content.decode()
    assert "is not one of your workspaces" in html


def test_forbidden_pages_explain_themselves(client_for, ops):
    response = client_for(ops).get("/endpoints/new/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Your role cannot open this page" in html
    assert "Your role (Ops) cannot do this." in html
    assert 'href="/probes/"' in html  # the navigation is there


def test_the_checklist_warns_about_a_workspace_without_a_key(workspace_a, make_vpc, make_endpoint):
    endpoint = make_endpoint(vpc=make_vpc(), workspace=workspace_a)
    workspace_a.api_keys.update(revoked_at=timezone.now())
    messages = [c.message for c in checklist(endpoint) if c.state == "warn"]
    assert any("has no active API key" in m for m in messages)


def test_status_sorts_by_severity(client_for, admin, many_endpoints):
    many_endpoints(6)
    html = client_for(admin).get("/endpoints/?sort=status").content.decode()
    first_down, first_degraded, first_up = (
        html.index(f'status-{s}"') for s in ("down", "degraded", "up")
    )
    assert first_down < first_degraded < first_up


def test_ops_do_not_see_spend_on_workspace_pages(client_for, ops, admin, workspace_a):
    assert "Spent this month" not in client_for(ops).get("/workspaces/team-a/").content.decode()
    assert "Monthly budget" not in client_for(ops).get("/workspaces/").content.decode()
    assert "Spent this month" in client_for(admin).get("/workspaces/team-a/").content.decode()


def test_the_audit_trail_and_probe_records_are_read_only_in_the_admin(
    client_for, admin, workspace_a
):
    client = client_for(admin)
    client.post("/workspaces/team-a/models/qwen-max/toggle/")
    entry = AuditEntry.objects.get()
    assert (
        client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    assert client.get("/admin/probes/proberesult/add/").status_code == 403


def test_the_list_filters_by_diagnosis_from_the_board(client_for, ops, many_endpoints):
    many_endpoints(9)
    client = client_for(ops)
    assert 'href="/endpoints/?diagnosis=tcp_timeout"' in client.get("/probes/").content.decode()
    html = client.get("/endpoints/?diagnosis=tcp_timeout").content.decode()
    assert html.count('<span class="status status-down"') == 3 and 'status-degraded"' not in html


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


def test_a_member_who_is_not_a_lead_does_not_see_the_workspace(make_user, workspace_a, api_client):
    user = make_user("mo-member", "lead")
    workspace_a.memberships.create(user=user, is_lead=False)
    assert api_client(user).get("/api/v1/workspaces").json() == []


def test_the_board_shows_down_endpoints_first_even_past_its_limit(
    client_for, ops, many_endpoints, monkeypatch
):
    from endpoints.probes import views as probes

    monkeypatch.setattr(probes, "ATTENTION_LIMIT", 3)
    many_endpoints(9)  # 3 down, 3 degraded
    html = client_for(ops).get("/probes/").content.decode()
    start = html.index("Needs attention")
    needs = html[start : html.index("</table>", start)]
    assert needs.count("status-down") == 3 and "status-degraded" not in needs
