"""Probe agents through the API: enrolling, hello, lease, results, revocation, silent VPCs.

These speak the protocol with Django's test client, as an agent would over HTTP; the real
agent processes are in test_agent_processes.py."""

import base64
from datetime import datetime, timedelta

import pytest
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.utils import timezone
from nacl.public import PrivateKey, SealedBox

from endpoints.agents import services
from endpoints.agents.models import Agent, VpcWatch
from endpoints.engine import ProbeOutcome, outcome_as_json
from endpoints.network.models import Endpoint
from endpoints.probes import recorder
from endpoints.probes.models import CENTRAL, ProbeResult, ProbeSchedule
from endpoints.probes.signals import agents_silent

URL = "http://ep-agent01.dashscope.cn-beijing.privatelink.aliyuncs.com"


@pytest.fixture
def agent_vpc(make_vpc):
    vpc = make_vpc("vpc-agents01", cidr="10.61.0.0/16")
    vpc.probed_by = "agents"
    vpc.save()
    return vpc


@pytest.fixture
def endpoint(agent_vpc, workspace_a, make_endpoint):
    return make_endpoint(name="agent probed", url=URL, vpc=agent_vpc, workspace=workspace_a)


class AgentClient:
    """An agent speaking the protocol through the test client."""

    def __init__(self, client, token):
        self.client, self.token, self.key = client, token, PrivateKey.generate()

    def post(self, path, body):
        return self.client.post(
            f"/api/v1/agent/{path}",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.token}",
        )

    def hello(self):
        public = base64.b64encode(bytes(self.key.public_key)).decode()
        return self.post("hello", {"public_key": public, "version": "0.2.0", "hostname": "h1"})

    def unseal(self, sealed):
        return SealedBox(self.key).decrypt(base64.b64decode(sealed)).decode()


@pytest.fixture
def enrol(client, admin, agent_vpc, api_client):
    def make(name="agent-a", vpc=agent_vpc):
        response = api_client(admin).post(f"/api/v1/vpcs/{vpc.vpc_id}/agents", {"name": name})
        assert response.status_code == 201, response.json()
        agent = AgentClient(client, response.json()["token"])
        assert agent.hello().status_code == 200
        return agent

    return make


def outcome_for(item, status="up"):
    return outcome_as_json(
        ProbeOutcome(
            status=status,
            diagnosis="ok" if status == "up" else "tcp_timeout",
            message="from inside",
            endpoint_id=item["endpoint"],
        )
    )


def test_an_agent_is_added_with_a_token_shown_once_and_stored_as_a_digest(
    api_client, admin, ops, agent_vpc
):
    response = api_client(admin).post(f"/api/v1/vpcs/{agent_vpc.vpc_id}/agents", {"name": "a1"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "token"} and body["token"].startswith("apa_")
    agent = Agent.objects.get()
    assert agent.digest == Agent.digest_of(body["token"]) and body["token"] not in str(vars(agent))
    listing = api_client(ops).get(f"/api/v1/vpcs/{agent_vpc.vpc_id}/agents").json()
    assert listing == [
        {"id": agent.pk, "name": "a1", "version": "", "last_seen": None, "online": False}
    ]
    assert (
        api_client(ops).post(f"/api/v1/vpcs/{agent_vpc.vpc_id}/agents", {"name": "x"}).status_code
        == 403
    )


def test_an_agents_vpc_probes_its_endpoints_and_the_central_workers_no_longer_do(endpoint):
    schedules = list(ProbeSchedule.objects.filter(endpoint=endpoint))
    assert [(s.location, s.primary) for s in schedules] == [("vpc-agents01", True)]


def test_patching_a_vpc_to_agents_moves_its_endpoints_schedules(
    api_client, admin, make_vpc, workspace_a, make_endpoint, django_capture_on_commit_callbacks
):
    vpc = make_vpc("vpc-switch01", cidr="10.62.0.0/16")
    ep = make_endpoint(name="switching", url=URL, vpc=vpc, workspace=workspace_a)
    assert ProbeSchedule.objects.get(endpoint=ep).location == CENTRAL
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(admin).patch(f"/api/v1/vpcs/{vpc.vpc_id}", {"probed_by": "agents"})
    assert response.status_code == 200 and response.json()["probed_by"] == "agents"
    assert ProbeSchedule.objects.get(endpoint=ep).location == "vpc-switch01"


def test_a_lease_carries_the_target_and_the_key_sealed_to_that_agent_only(
    enrol, endpoint, workspace_a
):
    agent = enrol()
    items = agent.post("lease", {"capacity": 10}).json()["items"]
    assert [i["endpoint"] for i in items] == [endpoint.pk]
    item = items[0]
    assert item["target"]["url"] == endpoint.url and "secret" not in item["target"]
    assert workspace_a.plain_key not in str(items)  # only sealed
    assert agent.unseal(item["secret"]) == workspace_a.plain_key
    other = enrol("agent-b")
    with pytest.raises(Exception):  # noqa: B017 - a different key cannot open it
        other.unseal(item["secret"])


def test_two_agents_of_a_vpc_never_lease_the_same_slot(enrol, endpoint):
    first, second = enrol("a"), enrol("b")
    assert len(first.post("lease", {"capacity": 10}).json()["items"]) == 1
    assert second.post("lease", {"capacity": 10}).json()["items"] == []


def test_results_are_stored_once_for_the_agents_own_vpc_only(
    enrol, endpoint, make_vpc, workspace_a, make_endpoint
):
    agent = enrol()
    (item,) = agent.post("lease", {"capacity": 10}).json()["items"]
    result = {k: item[k] for k in ("schedule", "endpoint", "lease", "slot")}
    result["outcome"] = outcome_for(item)
    body = agent.post("results", {"results": [result]}).json()
    assert body == {"stored": 1, "duplicates": 0, "rejected": []}
    stored = ProbeResult.objects.get()
    assert (stored.location, stored.agent_id, stored.status) == (
        "vpc-agents01",
        Agent.objects.get().pk,
        "up",
    )
    endpoint.refresh_from_db()
    assert endpoint.status == "up"
    # The same slot again (a buffer delivered twice): stored once.
    assert agent.post("results", {"results": [result]}).json()["duplicates"] == 1
    # A schedule of another VPC: refused, nothing stored.
    elsewhere = make_endpoint(
        name="central one",
        url="http://ep-elsewhere.dashscope.cn-beijing.privatelink.aliyuncs.com",
        vpc=make_vpc("vpc-central02", cidr="10.63.0.0/16"),
        workspace=workspace_a,
    )
    foreign = {
        **result,
        "schedule": ProbeSchedule.objects.get(endpoint=elsewhere).pk,
        "endpoint": elsewhere.pk,
    }
    assert agent.post("results", {"results": [foreign]}).json()["rejected"][0]["index"] == 0
    assert ProbeResult.objects.count() == 1


def test_a_result_with_a_bad_field_is_refused_by_name(enrol, endpoint):
    agent = enrol()
    (item,) = agent.post("lease", {"capacity": 10}).json()["items"]
    outcome = {**outcome_for(item), "status": "splendid"}
    body = agent.post(
        "results",
        {
            "results": [
                {"schedule": item["schedule"], "endpoint": item["endpoint"], "outcome": outcome}
            ]
        },
    ).json()
    assert "status" in body["rejected"][0]["error"] and body["stored"] == 0


def test_a_revoked_token_is_refused_at_once(enrol, api_client, admin, agent_vpc, endpoint):
    agent = enrol()
    assert len(agent.post("lease", {"capacity": 5}).json()["items"]) == 1
    record = Agent.objects.get()
    response = api_client(admin).delete(f"/api/v1/vpcs/{agent_vpc.vpc_id}/agents/{record.pk}")
    assert response.status_code == 204
    for path in ("hello", "lease", "results", "heartbeat"):
        assert agent.post(path, {}).status_code == 401
    # What it held is given back at once, for the other agents.
    assert ProbeSchedule.objects.get(endpoint=endpoint).lease_token is None


def test_tokens_do_not_cross_over(enrol, api_client, admin, agent_vpc, client):
    agent = enrol()
    response = client.get(
        f"/api/v1/vpcs/{agent_vpc.vpc_id}/agents", HTTP_AUTHORIZATION=f"Bearer {agent.token}"
    )
    assert response.status_code == 401  # an agent token is not a person's
    person = api_client(admin)
    response = client.post(
        "/api/v1/agent/lease", {"capacity": 1}, content_type="application/json", **person.headers
    )
    assert response.status_code == 401  # nor a person's token an agent's


def test_a_vpc_whose_agents_fall_silent_shows_no_agent_once_and_recovers(
    enrol, endpoint, django_capture_on_commit_callbacks
):
    agent = enrol()
    signals = []
    agents_silent.connect(lambda sender, **kw: signals.append(kw), weak=False, dispatch_uid="t")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.watch_vpcs()
        assert signals == []  # heard from just now
        long_ago = timezone.now() - services.silent_after() - timedelta(seconds=1)
        Agent.objects.update(last_seen_at=long_ago)
        with django_capture_on_commit_callbacks(execute=True):
            services.watch_vpcs()
            services.watch_vpcs()  # once per VPC, not once per check (or per endpoint)
        assert [s["silent"] for s in signals] == [True]
        endpoint.refresh_from_db()
        assert (endpoint.status, endpoint.diagnosis) == ("unknown", "no_agent")
        assert "No agent of vpc-agents01" in endpoint.status_message
        assert VpcWatch.objects.get().silent
        agent.post("heartbeat", {"version": "0.2.0"})
        with django_capture_on_commit_callbacks(execute=True):
            services.watch_vpcs()
        assert [s["silent"] for s in signals] == [True, False]
    finally:
        agents_silent.disconnect(dispatch_uid="t")


def test_a_connected_vpcs_agents_probe_a_private_endpoint_too_with_their_own_dns(
    enrol, endpoint, agent_vpc, make_vpc, django_capture_on_commit_callbacks
):
    other = make_vpc("vpc-agents02", cidr="10.64.0.0/16", resolver="127.0.0.1:5353")
    other.probed_by = "agents"
    other.host_overrides = {"ep-agent01.dashscope.cn-beijing.privatelink.aliyuncs.com": "127.0.0.9"}
    other.save()
    with django_capture_on_commit_callbacks(execute=True):
        from endpoints.network import services as network

        network.save_vpc(agent_vpc, [other], actor=None)
    places = dict(
        ProbeSchedule.objects.filter(endpoint=endpoint).values_list("location", "primary")
    )
    assert places == {"vpc-agents01": True, "vpc-agents02": False}
    agent = enrol("b-agent", vpc=other)
    (item,) = agent.post("lease", {"capacity": 5}).json()["items"]
    assert item["target"]["resolver"] == "127.0.0.1:5353"
    assert item["target"]["host_overrides"] == other.host_overrides
    assert Endpoint.objects.get(pk=endpoint.pk).status == "unknown"  # the primary speaks for it


def test_the_board_says_where_a_path_works_and_where_it_fails(
    enrol, endpoint, agent_vpc, make_vpc, client_for, ops, django_capture_on_commit_callbacks
):
    other = make_vpc("vpc-agents03", cidr="10.65.0.0/16")
    other.probed_by = "agents"
    other.save()
    with django_capture_on_commit_callbacks(execute=True):
        from endpoints.network import services as network

        network.save_vpc(agent_vpc, [other], actor=None)
    for agent, status in ((enrol("home"), "up"), (enrol("away", vpc=other), "down")):
        (item,) = agent.post("lease", {"capacity": 5}).json()["items"]
        result = {k: item[k] for k in ("schedule", "endpoint", "lease", "slot")}
        result["outcome"] = outcome_for(item, status)
        assert agent.post("results", {"results": [result]}).json()["stored"] == 1
    html = client_for(ops).get("/probes/").content.decode()
    assert (
        "Works inside vpc-agents01, tcp timeout from connected vpc-agents03: check the "
        "endpoint&#x27;s security group allows 10.65.0.0/16"
    ) in html
    page = client_for(ops).get(f"/endpoints/{endpoint.pk}/").content.decode()
    assert "over CEN" in page and "vpc-agents03" in page


def test_the_vpc_page_adds_an_agent_and_shows_its_commands_once(client_for, admin, ops, agent_vpc):
    client = client_for(admin)
    html = client.post(
        f"/vpcs/{agent_vpc.pk}/agents/add/", {"name": "bj-a"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    token = html.split("PORTAL_AGENT_TOKEN=")[1].split()[0]
    assert token.startswith("apa_") and "docker run" in html and "pip install" in html
    assert Agent.objects.get().digest == Agent.digest_of(token)
    again = client.get(f"/vpcs/{agent_vpc.pk}/agents/").content.decode()
    assert "bj-a" in again and token not in again  # shown once
    seen_by_ops = client_for(ops).get(f"/vpcs/{agent_vpc.pk}/agents/").content.decode()
    assert "bj-a" in seen_by_ops and "Add agent" not in seen_by_ops
    assert (
        client_for(ops).post(f"/vpcs/{agent_vpc.pk}/agents/add/", {"name": "x"}).status_code == 403
    )
    # An agent running another version than the portal is flagged.
    Agent.objects.update(version="0.0.1", last_seen_at=timezone.now())
    assert (
        "not " + services.portal_version()
        in client.get(f"/vpcs/{agent_vpc.pk}/agents/").content.decode()
    )


def test_metrics_say_when_each_agent_was_last_heard_from(enrol, client, settings):
    enrol("metrics-a")
    settings.PORTAL_METRICS_TOKEN = "m-token"
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer m-token").content.decode()
    seen = Agent.objects.get().last_seen_at.timestamp()
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("portal_agent_last_seen_timestamp_seconds{")
    )
    assert 'agent="metrics-a"' in line and 'vpc="vpc-agents01"' in line
    assert abs(float(line.rsplit(" ", 1)[1]) - seen) < 1


def test_the_probes_api_says_where_each_result_was_probed_from(
    enrol,
    api_client,
    admin,
    ops,
    make_vpc,
    workspace_a,
    make_endpoint,
    django_capture_on_commit_callbacks,
):
    vpc = make_vpc("vpc-moving01", cidr="10.66.0.0/16")
    ep = make_endpoint(name="moving", url=URL, vpc=vpc, workspace=workspace_a)
    central = ProbeOutcome(
        status="up", diagnosis="ok", message="from the workers", endpoint_id=ep.pk
    )
    recorder.record([recorder.Observation(endpoint_id=ep.pk, outcome=central, location=CENTRAL)])
    with django_capture_on_commit_callbacks(execute=True):
        api_client(admin).patch(f"/api/v1/vpcs/{vpc.vpc_id}", {"probed_by": "agents"})
    agent = enrol("mover", vpc=vpc)
    (item,) = agent.post("lease", {"capacity": 5}).json()["items"]
    result = {k: item[k] for k in ("schedule", "endpoint", "lease", "slot")}
    result["outcome"] = outcome_for(item, "down")
    assert agent.post("results", {"results": [result]}).json()["stored"] == 1
    items = api_client(ops).get(f"/api/v1/endpoints/{ep.pk}/probes").json()
    assert [(i["location"], i["status"], i["message"]) for i in items] == [
        ("vpc-moving01", "down", "from inside"),
        ("central", "up", "from the workers"),
    ]


def agents_section(client_for, user, vpc) -> str:
    return client_for(user).get(f"/vpcs/{vpc.pk}/agents/").content.decode()


def test_the_vpc_page_says_no_agent_since_after_three_lease_periods_of_silence(
    enrol, endpoint, agent_vpc, client_for, ops, settings, django_capture_on_commit_callbacks
):
    enrol()
    three = 3 * timedelta(seconds=settings.PORTAL_PROBE_LEASE_S)
    Agent.objects.update(last_seen_at=timezone.now() - three + timedelta(seconds=10))
    with django_capture_on_commit_callbacks(execute=True):
        services.watch_vpcs()
    assert "No agent since" not in agents_section(client_for, ops, agent_vpc)  # not yet
    last = timezone.now() - three - timedelta(seconds=10)
    Agent.objects.update(last_seen_at=last)
    with django_capture_on_commit_callbacks(execute=True):
        services.watch_vpcs()
    html = agents_section(client_for, ops, agent_vpc)
    assert "No agent since" in html
    assert date_filter(timezone.localtime(last), "Y-m-d H:i") in html  # since when, exactly
    assert "offline" in html
    # Heard from again: the banner goes.
    Agent.objects.update(last_seen_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        services.watch_vpcs()
    assert "No agent since" not in agents_section(client_for, ops, agent_vpc)


def test_the_agents_section_shows_lease_lag_and_results_per_minute(
    enrol, endpoint, agent_vpc, client_for, ops
):
    agent = enrol("lagging")
    ProbeSchedule.objects.filter(endpoint=endpoint).update(
        next_probe_at=timezone.now() - timedelta(seconds=4)
    )
    (item,) = agent.post("lease", {"capacity": 5}).json()["items"]
    lag = Agent.objects.get().lease_lag_ms
    assert 4000 <= lag < 10_000  # the slot was 4 s past due when it was leased
    slot = datetime.fromisoformat(item["slot"])
    results = []
    for k in range(-1, 5):  # the leased slot, four more, and one from before the window
        result = {"schedule": item["schedule"], "endpoint": item["endpoint"]}
        result["slot"] = (slot + k * timedelta(seconds=endpoint.interval_s)).isoformat()
        result["outcome"] = outcome_for(item)
        if k == -1:
            result["outcome"]["started_at"] = (timezone.now() - timedelta(minutes=6)).isoformat()
        if k == 0:
            result["lease"] = item["lease"]
        results.append(result)
    assert agent.post("results", {"results": results}).json()["stored"] == 6
    html = agents_section(client_for, ops, agent_vpc)
    row = html.split("lagging", 1)[1].split("</tr>", 1)[0]
    assert f"{floatformat(lag, 0)} ms" in row
    assert '<td class="num small">1.0</td>' in row  # 5 in the last five minutes, not 6


def test_silent_agents_alert_once_for_the_vpc_and_hold_back_their_endpoints_alerts(
    enrol,
    endpoint,
    agent_vpc,
    make_endpoint,
    workspace_a,
    admin,
    django_capture_on_commit_callbacks,
):
    """End to end: an agent's results open an endpoint incident (one webhook); its VPC's agents
    fall silent: one webhook for the VPC, none per endpoint, no reminder for the open incident
    meanwhile; an agent heard again closes the VPC's incident."""
    from endpoints.status.models import Incident, Scope
    from portal.alerts import outbox, reminders
    from portal.alerts import services as alerts
    from portal.alerts.models import Channel, Notification
    from tests.alerts.receivers import Receiver

    for n in range(2):
        make_endpoint(
            name=f"agent probed {n}",
            url=f"http://ep-agent1{n}.dashscope.cn-beijing.privatelink.aliyuncs.com",
            vpc=agent_vpc,
            workspace=workspace_a,
        )
    agent = enrol()

    def deliver():
        for notification in outbox.claim():
            outbox.deliver(notification)

    with Receiver() as receiver:
        alerts.save_channel(
            Channel(name="ops", kind="webhook", remind_every_min=5),
            actor=admin,
            target=f"{receiver.url}/hook",
            secret="",
        )
        for _ in range(2):  # two slots: the endpoint down in both, the others up
            ProbeSchedule.objects.update(next_probe_at=timezone.now() - timedelta(seconds=1))
            items = agent.post("lease", {"capacity": 10}).json()["items"]
            assert len(items) == 3
            results = [
                {
                    **{k: item[k] for k in ("schedule", "endpoint", "lease", "slot")},
                    "outcome": outcome_for(
                        item, "down" if item["endpoint"] == endpoint.pk else "up"
                    ),
                }
                for item in items
            ]
            with django_capture_on_commit_callbacks(execute=True):
                assert agent.post("results", {"results": results}).json()["stored"] == 3
        deliver()
        assert [receiver.json(i)["event"] for i in range(len(receiver.requests))] == [
            "incident_opened"
        ]

        Agent.objects.update(last_seen_at=timezone.now() - services.silent_after() * 2)
        with django_capture_on_commit_callbacks(execute=True):
            services.watch_vpcs()
            services.watch_vpcs()
        deliver()
        events = [receiver.json(i)["event"] for i in range(len(receiver.requests))]
        assert events == ["incident_opened", "vpc_no_agent"]  # one for the VPC, none per endpoint
        assert set(Endpoint.objects.values_list("diagnosis", flat=True)) == {"no_agent"}
        assert Incident.objects.open().filter(scope=Scope.VPC, vpc=agent_vpc).count() == 1
        assert Incident.objects.open().filter(scope=Scope.ENDPOINT).count() == 1  # no new ones
        reminders.remind(now=timezone.now() + timedelta(minutes=6))
        reminded = Notification.objects.filter(event="incident_reminder")
        # The VPC's incident is recalled; the endpoint's is held back while it is unknown.
        assert [n.incident.scope for n in reminded] == [Scope.VPC]

        agent.post("heartbeat", {"version": "0.2.0"})
        with django_capture_on_commit_callbacks(execute=True):
            services.watch_vpcs()
        assert not Incident.objects.open().filter(scope=Scope.VPC).exists()
        reminders.remind(now=timezone.now() + timedelta(minutes=6))
        assert [n.incident.scope for n in reminded.order_by("pk")] == [Scope.VPC, Scope.ENDPOINT]


def test_agents_polling_together_each_lease_a_fair_share(
    enrol, endpoint, agent_vpc, make_endpoint, workspace_a
):
    """Slots that fall together are split between the agents polling, not all taken by the
    first to ask; what one leaves is taken at its next poll."""
    for n in range(3):
        make_endpoint(
            name=f"shared {n}",
            url=f"http://ep-share{n}.dashscope.cn-beijing.privatelink.aliyuncs.com",
            vpc=agent_vpc,
            workspace=workspace_a,
        )
    a, b = enrol("agent-a"), enrol("agent-b")
    first = a.post("lease", {"capacity": 10}).json()["items"]
    second = b.post("lease", {"capacity": 10}).json()["items"]
    assert (len(first), len(second)) == (2, 1)  # half of 4, then half of the 2 left
    assert not {i["endpoint"] for i in first} & {i["endpoint"] for i in second}
