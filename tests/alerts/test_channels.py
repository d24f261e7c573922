"""Alert channels against real receivers on loopback: signatures, the outbox, retries,
maintenance holding alerts back, and the channels API."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from endpoints.devtools.simulator import Fault
from endpoints.status import services as status_services
from endpoints.status.models import Incident, MaintenanceWindow
from portal.alerts import outbox, senders, services
from portal.alerts.models import Channel, Notification
from tests.alerts.receivers import Receiver, dingtalk_answer, failing, valid_webhook_signature
from tests.probes.conftest import HOST, probe_now


def channel(admin, kind, target, secret="", **fields):
    name = f"{kind} {Channel.objects.count() + 1}"
    return services.save_channel(
        Channel(name=name, kind=kind, **fields), actor=admin, target=target, secret=secret
    )


def deliver_all():
    """What the worker does: claim what is due and send it."""
    sent = 0
    for notification in outbox.claim():
        sent += outbox.deliver(notification) == "sent"
    return sent


def probe(endpoint, times=1):
    for _ in range(times):
        probe_now("--endpoint", str(endpoint.pk))


def test_a_fault_sends_one_signed_webhook_and_lifting_it_another(probed, sim, admin):
    with Receiver() as receiver:
        channel(admin, "webhook", f"{receiver.url}/hook", secret="s3cret-signing-key")
        sim.state.set_fault(host=HOST, fault=Fault(status=503))
        probe(probed, 3)
        deliver_all()
        assert len(receiver.requests) == 1
        opened = receiver.json()
        assert opened["event"] == "incident_opened"
        assert opened["endpoint"] == {"id": probed.pk, "name": probed.name}
        assert (opened["status"], opened["diagnosis"]) == ("down", "upstream_error")
        assert valid_webhook_signature(receiver.requests[0], "s3cret-signing-key")
        deliver_all()
        assert len(receiver.requests) == 1  # sent once
        sim.state.clear_faults()
        probe(probed)
        deliver_all()
        assert len(receiver.requests) == 2 and receiver.json()["event"] == "incident_closed"
        assert valid_webhook_signature(receiver.requests[1], "s3cret-signing-key")
        assert not Incident.objects.open().exists()


def test_a_dingtalk_robot_accepts_the_signature_and_refuses_a_wrong_one(db, admin, caplog):
    caplog.set_level("DEBUG")
    with Receiver(dingtalk_answer("SECabc123")) as robot:
        good = channel(
            admin, "dingtalk", f"{robot.url}/robot/send?access_token=tok123", secret="SECabc123"
        )
        assert services.send_test(good, actor=admin).state == "sent"
        assert "sign=" in robot.requests[-1]["path"] and "timestamp=" in robot.requests[-1]["path"]
        body = robot.json()
        assert body["msgtype"] == "markdown" and body["markdown"]["title"]
        bad = channel(
            admin, "dingtalk", f"{robot.url}/robot/send?access_token=tok123", secret="SECwrong"
        )
        result = services.send_test(bad, actor=admin)
        bad.refresh_from_db()
        assert result.state == "failed" and bad.state == "failing" and "310000" in bad.last_error
    assert "tok123" not in caplog.text and "SECabc123" not in caplog.text  # never logged


def test_feishu_wecom_and_slack_bodies(db, admin):
    with Receiver(lambda r: (200, b'{"code": 0}')) as receiver:
        feishu = channel(
            admin, "feishu", f"{receiver.url}/open-apis/bot/v2/hook/abc", secret="fsecret"
        )
        assert services.send_test(feishu, actor=admin).state == "sent"
        body = receiver.json()
        assert body["msg_type"] == "text" and body["sign"] == senders.feishu_sign(
            "fsecret", int(body["timestamp"])
        )
        wecom = channel(admin, "wecom", f"{receiver.url}/cgi-bin/webhook/send?key=wk")
        services.send_test(wecom, actor=admin)
        assert receiver.json()["msgtype"] == "markdown" and receiver.json()["markdown"]["content"]
        slack = channel(admin, "slack", f"{receiver.url}/services/T0/B0/XYZ")
        services.send_test(slack, actor=admin)
        assert receiver.json()["text"].startswith("Test from Access Portal")


def test_email_uses_djangos_mail(db, admin):
    mailbox = channel(admin, "email", "oncall@example.com")
    assert services.send_test(mailbox, actor=admin).state == "sent"
    assert mail.outbox[-1].to == ["oncall@example.com"]


def test_a_receiver_that_fails_three_times_gets_it_once(db, admin, settings, probed, sim):
    settings.PORTAL_ALERT_RETRY_BASE_S = 0
    with Receiver(failing(3)) as receiver:
        channel(admin, "webhook", f"{receiver.url}/hook")
        sim.state.set_fault(host=HOST, fault=Fault(status=503))
        probe(probed, 2)
        states = [deliver_all() for _ in range(6)]
        assert sum(states) == 1
        note = Notification.objects.get()
        assert (note.state, note.attempts) == ("sent", 4)
        assert len(receiver.requests) == 4  # three 500s, one success


def test_a_permanent_error_marks_the_channel_failing_and_gives_up(db, admin, probed, sim):
    with Receiver(lambda r: (404, b"no such hook")) as receiver:
        hook = channel(admin, "webhook", f"{receiver.url}/gone")
        sim.state.set_fault(host=HOST, fault=Fault(status=503))
        probe(probed, 2)
        deliver_all()
        deliver_all()
        hook.refresh_from_db()
        assert hook.state == "failing" and "HTTP 404" in hook.last_error
        assert len(receiver.requests) == 1 and Notification.objects.get().state == "failed"


def test_maintenance_holds_the_alert_back(db, admin, probed, sim):
    now = timezone.now()
    status_services.save_window(
        MaintenanceWindow(
            name="upgrade",
            endpoint=probed,
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(hours=1),
        ),
        actor=admin,
    )
    with Receiver() as receiver:
        channel(admin, "webhook", f"{receiver.url}/hook")
        sim.state.set_fault(host=HOST, fault=Fault(status=503))
        probe(probed, 2)
        deliver_all()
        assert receiver.requests == []
        assert Incident.objects.open().count() == 1  # results still recorded, incident kept
        assert Notification.objects.get().state == "held"


def test_scope_and_events_choose_the_channels(db, admin, probed, sim, make_vpc):
    other = make_vpc("vpc-elsewhere1")
    with Receiver() as receiver:
        elsewhere = channel(admin, "webhook", f"{receiver.url}/a")
        elsewhere.vpcs.set([other])
        closed_only = channel(admin, "webhook", f"{receiver.url}/b")
        services.save_channel(closed_only, actor=admin, events=["incident_closed"])
        sim.state.set_fault(host=HOST, fault=Fault(status=503))
        probe(probed, 2)
        deliver_all()
        assert receiver.requests == []


def test_budget_thresholds_reach_the_channels_once(db, admin, workspace_a):
    """The costs app's budget check, end to end: 80 % crossed is one signed webhook; checking
    again sends nothing more; a new budget amount re-arms it."""
    from datetime import date
    from decimal import Decimal

    from portal.costs import services as costs
    from portal.costs.models import BudgetAlert

    workspace_a.monthly_budget = Decimal("10.00")
    workspace_a.save()
    today = date(2026, 3, 28)  # late in the month: the forecast is not crossed early
    costs.ingest_usage(
        [
            {
                "workspace": workspace_a.slug,
                "model": "qwen-plus",
                "date": "2026-03-05",
                "input_tokens": 10_625_000,  # 8.50 CNY at 0.80 per million
                "output_tokens": 0,
                "requests": 1000,
            }
        ],
        actor=None,
        source="api",
    )
    with Receiver() as receiver:
        channel(admin, "webhook", f"{receiver.url}/budget", secret="budget-secret")
        assert costs.check_budgets(today)["delivered"] >= 1
        deliver_all()
        assert costs.check_budgets(today)["due"] == 0
        deliver_all()
        bodies = [json.loads(r["body"]) for r in receiver.requests]
        events = [
            r for r, b in zip(receiver.requests, bodies, strict=True) if b["threshold"] == "80"
        ]
        assert len(events) == 1
        body = json.loads(events[0]["body"])
        assert body["event"] == "budget_threshold" and body["workspace"]["slug"] == "team-a"
        assert Decimal(body["spent"]) == Decimal("8.5") and body["currency"] == "CNY"
        assert valid_webhook_signature(events[0], "budget-secret")
        assert BudgetAlert.objects.filter(threshold="80", delivered_at__isnull=False).count() == 1


def test_a_budget_alert_no_channel_takes_is_tried_again(db, admin, workspace_a):
    from datetime import date
    from decimal import Decimal

    from portal.costs import services as costs
    from portal.costs.models import BudgetAlert

    workspace_a.monthly_budget = Decimal("1.00")
    workspace_a.save()
    costs.ingest_usage(
        [
            {
                "workspace": workspace_a.slug,
                "model": "qwen-plus",
                "date": "2026-03-05",
                "input_tokens": 2_000_000,
                "output_tokens": 0,
                "requests": 100,
            }
        ],
        actor=None,
        source="api",
    )
    assert costs.check_budgets(date(2026, 3, 28))["delivered"] == 0  # nobody to tell
    assert not BudgetAlert.objects.exists()  # released: the next check tries again
    with Receiver() as receiver:
        channel(admin, "webhook", f"{receiver.url}/budget")
        assert costs.check_budgets(date(2026, 3, 28))["delivered"] >= 2  # 80 and 100
        deliver_all()
        assert {json.loads(r["body"])["threshold"] for r in receiver.requests} >= {"80", "100"}


def test_the_channels_api_never_returns_a_secret(db, api_client, admin, ops):
    with Receiver() as receiver:
        target = f"{receiver.url}/robot/send?access_token=verysecrettoken"
        response = api_client(admin).post(
            "/api/v1/channels",
            {"name": "ding", "kind": "dingtalk", "target": target, "secret": "SECtopsecret"},
        )
        assert response.status_code == 201, response.content
        body = response.content.decode()
        assert "verysecrettoken" not in body and "SECtopsecret" not in body
        assert response.json()["has_secret"] is True and len(response.json()["events"]) == 7
        stored = Channel.objects.get()
        assert (
            "verysecrettoken" not in stored.target_ciphertext and stored.reveal_target() == target
        )
        listed = api_client(admin).get("/api/v1/channels")
        assert "verysecrettoken" not in listed.content.decode()
        assert api_client(ops).get("/api/v1/channels").status_code == 403
        tested = api_client(admin).post(f"/api/v1/channels/{stored.pk}/test", {})
        assert tested.status_code == 200 and tested.json()["state"] in ("sent", "failed")


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "x", "kind": "pager", "target": "https://a.example/h"}, "kind"),
        ({"name": "x", "kind": "webhook", "target": "ftp://a.example/h"}, "target"),
        ({"name": "x", "kind": "email", "target": "not-an-address"}, "target"),
        ({"name": "x", "kind": "slack", "target": "https://a.example/h", "secret": "s"}, "secret"),
        (
            {"name": "x", "kind": "webhook", "target": "https://a.example/h", "events": ["nope"]},
            "events",
        ),
        (
            {
                "name": "x",
                "kind": "webhook",
                "target": "https://a.example/h",
                "vpcs": ["vpc-nothere1"],
            },
            "vpcs",
        ),
        (
            {
                "name": "x",
                "kind": "webhook",
                "target": "https://a.example/h",
                "remind_every_min": 1,
            },
            "remind_every_min",
        ),
        ({"name": "x", "kind": "webhook", "target": "h" * 3000}, "target"),
    ],
)
def test_bad_channels_are_refused_by_field(db, api_client, admin, payload, field):
    response = api_client(admin).post("/api/v1/channels", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Channel.objects.exists()


def test_the_channel_pages(db, client_for, admin):
    client = client_for(admin)
    assert client.get("/alerts/").status_code == 200
    response = client.post("/alerts/", {"name": "", "kind": "webhook", "target": ""})
    assert response.status_code == 422
    response = client.post(
        "/alerts/",
        {
            "name": "hook",
            "kind": "webhook",
            "target": "https://hooks.example/abc/secret123",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "secret123" not in page and "…t123" in page


def test_an_open_unacknowledged_incident_is_recalled_once_per_interval(
    db, admin, ops, make_endpoint
):
    """A channel reminding every 30 min: one reminder per 30 min the incident stays open and
    unacknowledged, never two for one interval however often the task runs, none once
    someone acknowledged it."""
    from endpoints.status import services as status
    from portal.alerts import reminders

    endpoint = make_endpoint(name="bj private")
    opened = timezone.now() - timedelta(minutes=65)
    incident = Incident.objects.create(
        endpoint=endpoint,
        status="down",
        diagnosis="tcp_timeout",
        message="no answer",
        opened_at=opened,
    )
    with Receiver() as receiver:
        channel(admin, "webhook", f"{receiver.url}/remind", remind_every_min=30)
        assert reminders.remind(now=opened + timedelta(minutes=20)) == 0  # not yet
        reminders.remind(now=opened + timedelta(minutes=31))
        reminders.remind(now=opened + timedelta(minutes=45))  # the same interval again
        deliver_all()

        def events():
            return [json.loads(r["body"])["event"] for r in receiver.requests]

        assert events() == ["incident_reminder"]
        reminders.remind(now=opened + timedelta(minutes=61))
        deliver_all()
        assert events() == ["incident_reminder", "incident_reminder"]
        status.acknowledge(incident, actor=ops, note="on it")
        reminders.remind(now=opened + timedelta(minutes=95))
        deliver_all()
        assert events().count("incident_reminder") == 2  # acknowledged: no more reminders
        assert events()[-1] == "incident_acknowledged"
