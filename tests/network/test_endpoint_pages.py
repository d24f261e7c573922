"""Editing and deleting endpoints through the pages, and the snippets they show."""

import json

import pytest

from endpoints.network.models import Endpoint
from endpoints.network.snippets import snippets_for
from portal.audit.models import AuditEntry


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


def test_the_edit_form_keeps_the_saved_security_group_answer(
    client_for, admin, workspace_a, make_vpc, make_endpoint
):
    endpoint = make_endpoint(vpc=make_vpc(), workspace=workspace_a, allows_80_443=True)
    html = client_for(admin).get(f"/endpoints/{endpoint.pk}/edit/").content.decode()
    assert '<option value="true" selected>Yes</option>' in html
