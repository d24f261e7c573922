"""In Debian's Chromium through Playwright, against a live server on loopback."""

import re

import pytest
from playwright.sync_api import expect

from endpoints.network.models import Endpoint
from portal.accounts.models import ApiToken
from portal.workspaces.models import ModelGrant
from tests.conftest import PASSWORD, wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("nav")).to_contain_text(user.username)


def test_it_signs_in_and_shows_the_navigation_for_the_role(page, live_server, admin, ops):
    sign_in(page, live_server, admin)
    nav = page.locator("nav")
    for item in ["Endpoints", "Probes", "Workspaces", "Costs", "Audit", "Admin"]:
        expect(nav.get_by_role("link", name=item, exact=True)).to_be_visible()
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/login/$"))
    sign_in(page, live_server, ops)
    expect(nav.get_by_role("link", name="Probes", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Costs", exact=True)).to_have_count(0)
    expect(nav.get_by_role("link", name="Admin", exact=True)).to_have_count(0)


def test_a_wrong_password_says_so(page, live_server, admin):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", "not-it")
    page.click("button[type=submit]")
    expect(page.locator(".alert-danger")).to_contain_text("correct username and password")


def test_an_htmx_request_succeeds_with_csrf_on(page, live_server, ops):
    sign_in(page, live_server, ops)
    page.goto(f"{live_server.url}/profile/")
    page.fill("input[name=name]", "nightly export")
    with page.expect_response(re.compile(r"/profile/tokens/$")) as response:
        page.click("text=Create token")
    assert response.value.status == 200
    assert response.value.request.headers.get("hx-request") == "true"
    assert response.value.request.headers.get("x-csrftoken")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("ap_")
    assert page.url.endswith("/profile/")  # no page load: htmx swapped the section
    assert ApiToken.objects.get(name="nightly export").user == ops
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)  # shown once


def test_the_permission_grid_toggles_and_the_grant_sticks(page, live_server, admin, workspace_a):
    sign_in(page, live_server, admin)
    page.goto(f"{live_server.url}/workspaces/team-a/")
    switch = page.get_by_role("switch", name="qwen-max")
    expect(switch).not_to_be_checked()
    with page.expect_response(re.compile(r"/models/qwen-max/toggle/$")):
        switch.click()
    expect(page.locator("#grant-qwen-max")).to_have_class(re.compile(r"\bon\b"))
    page.reload()
    expect(page.get_by_role("switch", name="qwen-max")).to_be_checked()
    assert ModelGrant.objects.filter(workspace=workspace_a, model__name="qwen-max").exists()


def test_a_new_key_is_shown_as_a_fingerprint_only(page, live_server, admin, workspace_a):
    sign_in(page, live_server, admin)
    page.goto(f"{live_server.url}/workspaces/team-a/")
    secret = "sk-" + "c0ffee" * 5 + "ab"
    page.fill("#id_label", "rotated key")
    page.fill("#id_secret", secret)
    page.click("text=Add key")
    expect(page.locator("#keys-section")).to_contain_text("stored encrypted")
    assert secret not in page.content()
    expect(page.locator("#keys-section")).to_contain_text(f"…{secret[-4:]}")


@pytest.fixture
def registry(make_workspace, make_vpc):
    make_workspace("bj-main", region="cn-beijing", default=True)
    make_vpc("vpc-bj0001", region="cn-beijing", cidr="10.1.0.0/16")
    make_vpc("vpc-hz0001", region="cn-hangzhou", cidr="10.4.0.0/16")


def test_registration_through_the_form_applies_the_rules(page, live_server, admin, registry):
    sign_in(page, live_server, admin)
    page.goto(f"{live_server.url}/endpoints/new/")
    page.get_by_text("PrivateLink, default domain", exact=True).click()
    expect(page.locator("#id_url")).to_be_visible()
    expect(page.locator("#field-url")).to_contain_text("http:// only")
    page.fill("#id_name", "bj private")
    page.select_option("#id_region", "cn-beijing")
    # Leaving a field validates it in place.
    page.fill("#id_url", "https://ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com")
    page.press("#id_url", "Tab")
    expect(page.locator("#field-url .invalid-feedback")).to_contain_text("supports HTTP only")
    page.fill("#id_url", "http://ep-abc_123.dashscope.cn-beijing.privatelink.aliyuncs.com")
    page.press("#id_url", "Tab")
    expect(page.locator("#field-url")).to_contain_text("underscore makes API calls fail")
    expect(page.locator("#field-url")).to_contain_text("Use ep-abc-123.dashscope.cn-beijing")
    # A VPC in another region is refused on submit, next to the field.
    page.fill("#id_url", "http://ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com")
    page.select_option("#id_vpc", label="vpc-hz0001 (vpc-hz0001, cn-hangzhou)")
    page.select_option("#id_workspace", label="Bj Main (cn-beijing)")
    page.fill("#id_zones", "cn-beijing-a")
    page.click("button:has-text('Register')")
    expect(page.locator("#field-vpc .invalid-feedback")).to_contain_text("is in cn-hangzhou")
    assert Endpoint.objects.count() == 0
    # Fixed: registered, with the single zone flagged on the detail page.
    page.select_option("#id_vpc", label="vpc-bj0001 (vpc-bj0001, cn-beijing)")
    page.click("button:has-text('Register')")
    expect(page.locator("h1")).to_have_text("bj private")
    expect(page.locator(".check-warn")).to_contain_text(["No zone failover"])
    assert (
        Endpoint.objects.get().url
        == "http://ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com"
    )


def test_the_paste_box_fills_the_form(page, live_server, admin, registry):
    sign_in(page, live_server, admin)
    page.goto(f"{live_server.url}/endpoints/new/")
    page.fill(
        "#paste",
        "curl -X POST https://dashscope.aliyuncs.com/api/v1/services/aigc/text-generation/generation \\\n"
        '-H "Authorization: Bearer $DASHSCOPE_API_KEY"',
    )
    page.click("text=Fill the form")
    expect(page.locator("#id_url")).to_have_value("https://dashscope.aliyuncs.com")
    expect(page.locator("#id_region")).to_have_value("cn-beijing")
    expect(page.locator("#id_api_style")).to_have_value("dashscope")
    expect(page.locator("label.btn-primary")).to_have_text("Public base URL")


def test_the_snippets_have_copy_buttons(
    page, live_server, admin, workspace_a, make_endpoint, make_vpc
):
    endpoint = make_endpoint(vpc=make_vpc(), workspace=workspace_a)
    sign_in(page, live_server, admin)
    page.goto(f"{live_server.url}/endpoints/{endpoint.pk}/")
    expect(page.locator("#code-curl")).to_contain_text("/compatible-mode/v1/chat/completions")
    expect(page.locator("#code-curl")).to_contain_text("$DASHSCOPE_API_KEY")
    page.get_by_role("tab", name="DashScope SDK").click()
    expect(page.locator("#code-dashscope_python")).to_contain_text(
        'dashscope.base_http_api_url = "http://ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com/api/v1"'
    )
    page.locator("#snippet-dashscope_python .copy").click()
    expect(page.locator("#snippet-dashscope_python .copy")).to_have_text("Copied")


def test_probe_now_shows_progress_then_the_diagnosis(
    page, live_server, ops, workspace_a, make_vpc, make_endpoint, celery_worker_process, tmp_path
):
    from endpoints.devtools.simulator import Fault, SimState, Simulator

    host = "ep-browser1.dashscope.cn-beijing.privatelink.aliyuncs.com"
    with Simulator(SimState(), dns_port=0, workdir=tmp_path) as sim:
        endpoint = make_endpoint(
            name="browser probe",
            url=f"http://{host}:{sim.http_port}",
            vpc=make_vpc(resolver=f"127.0.0.1:{sim.dns_port}"),
            workspace=workspace_a,
            allows_80_443=True,
        )
        sim.state.load_from_db()
        sim.dns.set_a(host, ["127.0.0.1", "127.0.0.2"])  # the second zone is down
        sim.state.set_fault(host=host, fault=Fault(latency_ms=400))
        celery_worker_process()
        sign_in(page, live_server, ops)
        page.goto(f"{live_server.url}/endpoints/{endpoint.pk}/")
        expect(page.locator("#probe-panel")).to_contain_text("Not probed yet")
        page.click("text=Probe now")
        expect(page.locator("#probe-run")).to_contain_text(
            re.compile(r"Probing 0 / 1|Probed 1 endpoint")
        )
        expect(page.locator("#diagnosis")).to_contain_text("zone_unreachable", timeout=60_000)
        expect(page.locator("#probe-panel")).to_contain_text("127.0.0.2")
        expect(page.locator("#probe-panel")).to_contain_text("refused")
        wait_for(lambda: Endpoint.objects.get(pk=endpoint.pk).status == "degraded", timeout=10)
