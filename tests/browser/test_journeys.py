"""A newcomer's journeys, clicked through in Chromium as a person would, against real parts on
loopback: the live portal, the Model Studio simulator (HTTP, TLS and DNS), a Celery worker
and beat, a probe agent process, a webhook receiver.

1. An admin creates a VPC, registers a PrivateLink custom-domain endpoint through the
   kind-first form (tripping the underscore rule once), copies the OpenAI SDK snippet, adds
   an agent to the VPC, starts it with the command the page shows, and sees the first result.
2. (tests/browser/test_cost_journey.py) A team lead and the cost split.
3. Ops watches the board while a fault is injected in the simulator: the endpoint turns red
   with its diagnosis, an incident opens, the webhook arrives, ops acknowledges it, and both
   close when the fault is lifted.

Each journey saves screenshots: under PORTAL_SCREENSHOTS if set (`make screenshots` writes
docs/screenshots/, which the README shows), else in the test's temporary directory.
"""

import os
import re
import shlex
import sys
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

from endpoints.devtools.receiver import serve as serve_receiver
from endpoints.devtools.simulator import Fault, SimState, Simulator
from endpoints.network.models import Endpoint, Vpc
from endpoints.probes.models import ProbeResult
from endpoints.status.models import Incident
from portal.alerts.models import Channel, Notification
from portal.alerts.services import save_channel
from tests.browser.test_browser import sign_in
from tests.conftest import ROOT, start_process, stop_process, wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
CUSTOM_DOMAIN = "vpc-cn-beijing.dashscope.aliyuncs.com"
DEFAULT_DOMAIN = "ep-journey1.dashscope.cn-beijing.privatelink.aliyuncs.com"
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture
def shots(tmp_path):
    """shot(page, name): a full-page PNG, where the README can use it."""
    folder = Path(os.environ.get("PORTAL_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def shot(page, name, full_page=True):
        page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)

    shot.folder = folder
    return shot


def assert_fits(page, path):
    """At this width the page needs no sideways scrolling (wide tables scroll in their box)."""
    page.goto(path)
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{path} is {overflow} px wider than the {page.viewport_size} window"


@pytest.fixture
def simulator(tmp_path):
    sim = Simulator(SimState(), dns_port=0, workdir=tmp_path / "sim")
    sim.start_in_thread()
    yield sim
    sim.stop()


@pytest.fixture
def agent_process(tmp_path, simulator):
    """start(command): run the agent as the page's pip command says (its PORTAL_URL and
    PORTAL_AGENT_TOKEN), trusting the simulator's CA, probing loopback only."""
    processes = []

    def start(command: str):
        words = shlex.split(command.splitlines()[-1])
        given = dict(word.split("=", 1) for word in words if "=" in word)
        assert words[-1] == "access-portal-agent", command
        process = start_process(
            [sys.executable, "-m", "endpoints.probe_agent", "--state-dir", str(tmp_path / "agent")],
            {
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": str(ROOT),
                "PORTAL_URL": given["PORTAL_URL"],
                "PORTAL_AGENT_TOKEN": given["PORTAL_AGENT_TOKEN"],
                "PORTAL_PROBE_ALLOWED_NETWORKS": "127.0.0.0/8",
                "SSL_CERT_FILE": str(simulator.ca_path),
            },
            tmp_path / "agent.log",
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        stop_process(process)


def test_journey_1_an_admin_registers_a_private_endpoint_and_its_agent_probes_it(
    page, live_server, admin, make_workspace, simulator, agent_process, shots
):
    workspace = make_workspace("bj-team", models=["qwen-plus"])  # with its API key
    simulator.dns.set_cname(CUSTOM_DOMAIN, DEFAULT_DOMAIN)  # the VPC's Private DNS record
    simulator.dns.set_a(DEFAULT_DOMAIN, ["127.0.0.1"])
    page.set_viewport_size(WIDE)
    sign_in(page, live_server, admin)

    # A VPC, from the registry's VPC tab.
    page.get_by_role("link", name="Endpoints").first.click()
    page.get_by_role("link", name="VPCs").click()
    page.get_by_role("link", name="New VPC").click()
    page.get_by_label("VPC ID").fill("vpc-journey01")
    page.get_by_label("Name").fill("Journey production")
    page.get_by_label("Region").select_option("cn-beijing")
    page.get_by_label("CIDR").fill("10.80.0.0/16")
    page.get_by_label("Resolver").fill(f"127.0.0.1:{simulator.dns_port}")
    page.get_by_label("Probed by").select_option("agents")
    page.get_by_role("button", name=re.compile("Save|Create|Register")).click()
    expect(page.locator("h1")).to_contain_text("Journey production")
    vpc = Vpc.objects.get(vpc_id="vpc-journey01")

    # The endpoint, kind first; the underscore rule trips once.
    page.goto(f"{live_server.url}/endpoints/new/")
    page.get_by_text("PrivateLink, custom domain", exact=True).click()
    expect(page.locator("#id_url")).to_be_visible()
    page.fill("#id_name", "Journey · custom domain")
    page.select_option("#id_region", "cn-beijing")
    page.fill("#id_url", f"https://vpc_cn-beijing.dashscope.aliyuncs.com:{simulator.tls_port}")
    page.press("#id_url", "Tab")
    expect(page.locator("#field-url .invalid-feedback")).to_contain_text("underscore")
    shots(page, "registration-underscore")
    page.fill("#id_url", f"https://{CUSTOM_DOMAIN}:{simulator.tls_port}")
    page.press("#id_url", "Tab")
    expect(page.locator("#field-url .invalid-feedback")).to_have_count(0)
    page.select_option("#id_vpc", str(vpc.pk))
    page.select_option("#id_workspace", str(workspace.pk))
    page.fill("#id_zones", "cn-beijing-a, cn-beijing-b")
    page.select_option("#id_allows_80_443", "true")
    page.fill("#id_interval_s", "10")
    shots(page, "registration-form")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("h1")).to_have_text("Journey · custom domain")
    endpoint = Endpoint.objects.get(name="Journey · custom domain")
    simulator.state.load_from_db()  # the simulator learns the workspace's key

    # The OpenAI SDK snippet, copied.
    page.get_by_role("tab", name="OpenAI SDK").click()
    expect(page.locator("#code-openai_python")).to_contain_text(
        f'base_url="https://{CUSTOM_DOMAIN}:{simulator.tls_port}/compatible-mode/v1"'
    )
    page.locator("#snippet-openai_python .copy").click()
    expect(page.locator("#snippet-openai_python .copy")).to_have_text("Copied")

    # An agent for the VPC: its command, with the token shown once.
    page.goto(f"{live_server.url}/vpcs/{vpc.pk}/")
    section = page.locator("#agents-section")
    expect(section).to_contain_text("No agent yet")
    section.get_by_label("Agent name").fill("journey-a")
    section.get_by_role("button", name="Add agent").click()
    expect(section).to_contain_text("shown this once")
    command = page.locator("#agent-pip").inner_text()
    assert "PORTAL_AGENT_TOKEN=apa_" in command
    shots(page, "agents-section")
    agent = agent_process(command)

    # The first result, from inside the VPC.
    wait_for(
        lambda: ProbeResult.objects.filter(endpoint=endpoint).exists(),
        timeout=60,
        message="the agent's first result",
        logs=[agent.log_path],
    )
    page.reload()
    expect(section).to_contain_text("online")
    expect(section).not_to_contain_text("shown this once")  # the token is gone for good
    page.goto(f"{live_server.url}/endpoints/{endpoint.pk}/")
    expect(page.locator("#diagnosis")).to_contain_text("ok")
    expect(page.locator("body")).to_contain_text("agent · vpc-journey01")  # from inside
    shots(page, "endpoint-first-result")
    result = ProbeResult.objects.filter(endpoint=endpoint).latest("started_at")
    assert result.status == "up" and result.agent_id is not None


# -- journey 3 ------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    """The demo's webhook receiver on 127.0.0.1 (a free port), checking signatures."""
    server = serve_receiver(0, "journey-secret")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    server.server_close()


def test_journey_3_ops_sees_a_fault_open_an_incident_alert_and_close(
    page,
    live_server,
    admin,
    ops,
    make_workspace,
    make_vpc,
    make_endpoint,
    simulator,
    receiver,
    celery_worker_process,
    shots,
    settings,
):
    workspace = make_workspace("bj-ops", models=["qwen-plus"])
    vpc = make_vpc("vpc-opsjrny1", resolver=f"127.0.0.1:{simulator.dns_port}")
    hosts = [f"ep-ops{n}.dashscope.cn-beijing.privatelink.aliyuncs.com" for n in range(3)]
    endpoints = []
    for n, host in enumerate(hosts):
        simulator.dns.set_a(host, ["127.0.0.1"])
        endpoints.append(
            make_endpoint(
                name=f"Ops journey {n}",
                url=f"http://{host}:{simulator.http_port}",
                vpc=vpc,
                workspace=workspace,
                allows_80_443=True,
                interval_s=10,
                failure_threshold=1,
            )
        )
    simulator.state.load_from_db()
    save_channel(
        Channel(name="On-call webhook", kind="webhook"),
        actor=admin,
        target=f"{receiver.url}/hook",
        secret="journey-secret",
    )
    workers = celery_worker_process(beat=True, env_extra={"PORTAL_URL": live_server.url})
    logs = [p.log_path for p in workers]
    broken = endpoints[1]
    wait_for(
        lambda: Endpoint.objects.filter(pk__in=[e.pk for e in endpoints], status="up").count() == 3,
        timeout=60,
        message="every endpoint up",
        logs=logs,
    )

    page.set_viewport_size(WIDE)
    sign_in(page, live_server, ops)
    page.goto(f"{live_server.url}/probes/")
    board = page.locator("#board")
    expect(board).to_contain_text("Ops journey 1")
    shots(page, "board-all-up")

    # The fault: Model Studio answers 503 on one endpoint.
    simulator.state.set_fault(host=hosts[1], fault=Fault(status=503))
    attention = page.locator("#attention")
    expect(attention).to_contain_text("All clear")
    expect(attention).to_contain_text("Ops journey 1", timeout=45_000)  # it refreshes itself
    expect(attention).to_contain_text("upstream_error")
    incident = wait_for(
        lambda: Incident.objects.filter(endpoint=broken, closed_at=None).first(),
        timeout=30,
        message="the incident",
        logs=logs,
    )
    expect(page.locator(f"#incident-{incident.pk}")).to_be_visible(timeout=15_000)
    shots(page, "board-fault")

    # The webhook arrived, signed.
    wait_for(
        lambda: Notification.objects.filter(state="sent").exists(),
        timeout=30,
        message="the webhook delivery",
        logs=logs,
    )
    receiver_page = page.context.new_page()
    receiver_page.goto(receiver.url)
    expect(receiver_page.locator("table")).to_contain_text("incident_opened")
    expect(receiver_page.locator("table")).to_contain_text("signature valid")
    expect(receiver_page.locator("table")).to_contain_text("Ops journey 1")
    shots(receiver_page, "webhook-receiver")
    receiver_page.close()

    # Acknowledged from the board, with a note.
    card = page.locator(f"#incident-{incident.pk}")
    card.get_by_placeholder("Note (optional)").fill("Upstream 503s; ticket opened with Alibaba")
    card.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(f"#incident-{incident.pk}")).to_contain_text(f"✓ {ops.username}")

    # The fault lifted: the endpoint comes back, the incident closes.
    simulator.state.clear_faults()
    expect(attention).to_contain_text("All clear", timeout=45_000)
    wait_for(
        lambda: Incident.objects.get(pk=incident.pk).closed_at is not None,
        timeout=30,
        message="the incident to close",
        logs=logs,
    )
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    expect(page.locator("body")).to_contain_text("closed")
    expect(page.locator("body")).to_contain_text("Upstream 503s")
    shots(page, "incident-closed")
    wait_for(
        lambda: "incident_closed" in str(list(receiver.inbox.items)),
        timeout=30,
        message="the closing webhook",
        logs=logs,
    )
    page.goto(f"{live_server.url}/endpoints/{broken.pk}/")
    expect(page.locator("#diagnosis")).to_contain_text("ok")
    shots(page, "endpoint-history")

    # On a phone: the board and an endpoint read without sideways scrolling.
    page.set_viewport_size(NARROW)
    assert_fits(page, f"{live_server.url}/probes/")
    shots(page, "board-narrow")
    assert_fits(page, f"{live_server.url}/endpoints/{broken.pk}/")
    assert_fits(page, f"{live_server.url}/incidents/")


# -- journey 2 ------------------------------------------------------------------------------


def test_journey_2_a_team_lead_follows_the_money(
    page,
    live_server,
    lead_a,
    workspace_a,
    workspace_b,
    celery_worker_process,
    tmp_path,
    shots,
):
    from datetime import date, timedelta

    from portal.costs import services as costs
    from tests.costs.conftest import bill_csv, bill_row

    # March: both teams metered every day; team A's own bill is 12 % above its estimate.
    rows = []
    for n in range(31):
        day = date(2026, 3, 1) + timedelta(days=n)
        for workspace, tokens in ((workspace_a, 2_000_000), (workspace_b, 7_000_000)):
            rows.append(
                {
                    "workspace": workspace.slug,
                    "model": "qwen-plus",
                    "date": day.isoformat(),
                    "requests": 1000,
                    "input_tokens": tokens,
                    "output_tokens": tokens // 10,
                }
            )
    costs.ingest_usage(rows, actor=None, source="cli")
    bill = tmp_path / "team-a-2026-03.csv"
    days = [(date(2026, 3, 1) + timedelta(days=n)).isoformat() for n in range(31)]
    bill.write_bytes(  # per day 1.80 billed, where the estimate is 1.60 in + 0.40 out = 2.00
        bill_csv(
            [bill_row(workspace_a, day=d, usage="2000000", amount="1.45") for d in days]
            + [
                bill_row(workspace_a, day=d, side="output_token", usage="200000", amount="0.35")
                for d in days
            ]
        )
    )
    celery_worker_process()
    page.set_viewport_size(WIDE)
    sign_in(page, live_server, lead_a)

    # The cost split is a lead's home; a custom range.
    page.goto(f"{live_server.url}/")
    expect(page.locator("h1")).to_contain_text("Cost split")
    page.select_option("#id_range", "custom")
    page.fill("#id_start", "2026-03-01")
    page.fill("#id_end", "2026-03-31")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"start=2026-03-01&end=2026-03-31"))
    split = page.locator(".split-table").first
    expect(split).to_contain_text("Team A")
    expect(page.locator("body")).not_to_contain_text("Team B")
    shots(page, "cost-split")

    # Into their workspace, and its CSV.
    split.get_by_role("link", name="Team A").click()
    expect(page.locator("h1")).to_contain_text("Team A")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download CSV|csv")).first.click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "qwen-plus" in csv_text or "2026-03" in csv_text, csv_text[:300]
    shots(page, "cost-workspace")

    # Their own bill: preview, confirm, progress, done.
    page.goto(f"{live_server.url}/costs/")
    page.get_by_role("link", name="Bill imports").click()
    page.set_input_files("#id_file", str(bill))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#bill-counts")).to_contain_text("62")
    shots(page, "bill-preview")
    page.get_by_role("button", name=re.compile(r"Import 62 rows")).click()
    expect(page.locator("#bill-done")).to_contain_text("Imported 62 rows", timeout=90_000)

    # The reconciliation: the bill against the estimate.
    page.goto(f"{live_server.url}/costs/reconciliation/?month=2026-03")
    table = page.locator("main table").first
    expect(table).to_contain_text("Team A")
    expect(table).to_contain_text("-11.11 %")  # 55.80 billed, 62.00 estimated: 6.20 of 55.80
    expect(page.locator("body")).not_to_contain_text("Team B")
    shots(page, "reconciliation")

    # On a phone too.
    page.set_viewport_size(NARROW)
    assert_fits(page, f"{live_server.url}/costs/?range=custom&start=2026-03-01&end=2026-03-31")
    shots(page, "cost-split-narrow")
    assert_fits(page, f"{live_server.url}/costs/reconciliation/?month=2026-03")

    # Another team's workspace is not there for them.
    response = page.goto(f"{live_server.url}/costs/workspaces/team-b/")
    assert response.status == 404
    expect(page.locator("body")).not_to_contain_text("Team B")
