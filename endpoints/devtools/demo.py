"""The demo world of `make run`: workspaces, keys, VPCs and endpoints whose probes show the
diagnoses for real, against the local simulator (every name resolves to 127.0.0.1).

Development only: nothing here ships in a model or runs in production. Idempotent: the
first run creates everything; later runs only print the logins and rewrite the
simulator's config.
"""

import json
import os
import secrets
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from endpoints.agents import services as agents
from endpoints.devtools.demo_costs import seed_costs
from endpoints.devtools.demo_history import seed_history
from endpoints.network.models import Endpoint, Vpc
from endpoints.network.services import check_endpoint
from endpoints.probes import schedules
from endpoints.status.models import MaintenanceWindow
from endpoints.status.services import save_window
from endpoints.status.tasks import refresh_summaries
from portal.accounts.models import Role, User
from portal.alerts.models import Channel
from portal.alerts.services import save_channel
from portal.workspaces.models import (
    ApiKey,
    CatalogModel,
    EasToken,
    Membership,
    ModelGrant,
    Workspace,
)

HTTP, TLS, DNS = 8900, 8943, 8953
RECEIVER = 8990  # the demo's webhook receiver (endpoints/devtools/receiver.py)
MAINTENANCE_NAME = "Finance core patching, Sundays 02:00 (demo)"
CHANNEL_NAME = "On-call webhook (demo receiver)"
RESOLVER = f"127.0.0.1:{DNS}"

USERS = [("admin", Role.ADMIN), ("ops", Role.OPS), ("lead", Role.LEAD)]

WORKSPACES = [
    # slug, name, workspace_id, region, scope, default, grants, budget
    ("bj-default", "Beijing default", "llm-bjdefault01", "cn-beijing", "mainland", True, [], 5000),
    (
        "bj-data",
        "Beijing data team",
        "llm-bjdata0001",
        "cn-beijing",
        "mainland",
        False,
        ["qwen-plus", "qwen-flash", "qwen-turbo"],
        800,
    ),
    (
        "sg-default",
        "Singapore default",
        "llm-sgdefault01",
        "ap-southeast-1",
        "international",
        True,
        [],
        2000,
    ),
    (
        "sg-support",
        "Singapore support bot",
        "llm-sgsupport01",
        "ap-southeast-1",
        "international",
        False,
        ["qwen-plus", "qwen-flash"],
        300,
    ),
    (
        "us-analytics",
        "Virginia US-only analytics",
        "llm-usanalytics1",
        "us-east-1",
        "us",
        False,
        ["qwen-plus-us"],
        500,
    ),
    ("fra-eu", "Frankfurt EU", "llm-fraeu00001", "eu-central-1", "eu", True, [], None),
    (
        "fin-risk",
        "Finance risk models",
        "llm-finrisk0001",
        "cn-shanghai-finance-1",
        "finance",
        True,
        [],
        3000,
    ),
]
LEAD_OF = ["bj-data", "sg-support"]

VPCS = [
    # vpc_id, name, region, cidr, overrides
    (
        "vpc-bjprod01",
        "Beijing production",
        "cn-beijing",
        "10.10.0.0/16",
        {
            # zone b's endpoint ENI is gone: one of the two addresses refuses
            "ep-bj2demo.dashscope.cn-beijing.privatelink.aliyuncs.com": "127.0.0.1, 127.0.0.2",
            # a Private DNS record still pointing at a deleted endpoint
            "ep-bjold01.dashscope.cn-beijing.privatelink.aliyuncs.com": "ep-bjgone01.dashscope.cn-beijing.privatelink.aliyuncs.com",
        },
    ),
    (
        "vpc-sgapp001",
        "Singapore apps",
        "ap-southeast-1",
        "10.20.0.0/16",
        {
            # Private DNS for the Beijing custom domain, CNAMEd to the wrong name
            "vpc-cn-beijing.dashscope.aliyuncs.com": "test-for-dns.dashscope.aliyuncs.com",
        },
    ),
    ("vpc-hzapp001", "Hangzhou apps", "cn-hangzhou", "10.30.0.0/16", {}),
    ("vpc-tokyo0001", "Tokyo edge", "ap-northeast-1", "10.40.0.0/16", {}),
    ("vpc-fin00001", "Finance cloud core", "cn-shanghai-finance-1", "10.50.0.0/16", {}),
    ("vpc-shstaging1", "Shanghai staging", "cn-shanghai", "10.60.0.0/16", {}),
]
# VPCs probed by agents inside them: Beijing production's agent is a real process that
# `make run` starts (Procfile.dev); Shanghai staging's was enrolled and never started, so the
# board shows "no agent".
AGENT_VPCS = {"vpc-bjprod01": "bj-prod-a", "vpc-shstaging1": "sh-staging-a"}
RUNNING_AGENT = "bj-prod-a"
CONNECTED = [("vpc-sgapp001", "vpc-bjprod01")]

EAS_SERVICE = "demo_vllm"
ENDPOINTS = [
    dict(
        name="BJ prod · PrivateLink",
        kind="privatelink_default",
        url=f"http://ep-bj1demo.dashscope.cn-beijing.privatelink.aliyuncs.com:{HTTP}",
        region="cn-beijing",
        vpc="vpc-bjprod01",
        zones=["cn-beijing-a", "cn-beijing-b"],
        security_group="sg-bjprod01",
        allows_80_443=True,
        workspace="bj-data",
        check_model="qwen-plus",
        model_call_check=True,
        interval_s=30,
    ),
    dict(
        name="BJ prod · custom domain (HTTPS)",
        kind="privatelink_custom",
        url=f"https://vpc-cn-beijing.dashscope.aliyuncs.com:{TLS}",
        region="cn-beijing",
        vpc="vpc-bjprod01",
        zones=["cn-beijing-a", "cn-beijing-b"],
        security_group="sg-bjprod01",
        allows_80_443=True,
        workspace="bj-default",
        api_style="dashscope",
        check_model="qwen-max",
    ),
    dict(
        name="BJ prod · PrivateLink, zone b",
        kind="privatelink_default",
        url=f"http://ep-bj2demo.dashscope.cn-beijing.privatelink.aliyuncs.com:{HTTP}",
        region="cn-beijing",
        vpc="vpc-bjprod01",
        zones=["cn-beijing-a", "cn-beijing-b"],
        security_group="sg-bjprod01",
        allows_80_443=True,
        workspace="bj-default",
    ),
    dict(
        name="BJ prod · old endpoint record",
        kind="privatelink_default",
        url=f"http://ep-bjold01.dashscope.cn-beijing.privatelink.aliyuncs.com:{HTTP}",
        region="cn-beijing",
        vpc="vpc-bjprod01",
        zones=["cn-beijing-a", "cn-beijing-b"],
        allows_80_443=True,
        workspace="bj-default",
    ),
    dict(
        name="BJ public · data team tries qwen-max",
        kind="public",
        url=f"https://dashscope.aliyuncs.com:{TLS}",
        region="cn-beijing",
        workspace="bj-data",
        check_model="qwen-max",
        interval_s=120,
    ),
    dict(
        name="BJ trial domain",
        kind="public",
        url=f"https://trial.cn-beijing.maas.aliyuncs.com:{TLS}",
        region="cn-beijing",
        workspace="bj-default",
        interval_s=120,
    ),
    dict(
        name="SG apps → BJ custom domain over CEN",
        kind="privatelink_custom",
        url=f"https://vpc-cn-beijing.dashscope.aliyuncs.com:{TLS}",
        region="cn-beijing",
        vpc="vpc-sgapp001",
        endpoint_vpc="vpc-bjprod01",
        zones=["cn-beijing-a", "cn-beijing-b"],
        allows_80_443=True,
        workspace="bj-default",
    ),
    dict(
        name="SG support · workspace domain",
        kind="public",
        url=f"https://llm-sgsupport01.ap-southeast-1.maas.aliyuncs.com:{TLS}",
        region="ap-southeast-1",
        workspace="sg-support",
        check_model="qwen-plus",
        model_call_check=True,
        interval_s=30,
    ),
    dict(
        name="SG apps · PrivateLink",
        kind="privatelink_default",
        url=f"http://ep-sg1demo.dashscope.ap-southeast-1.privatelink.aliyuncs.com:{HTTP}",
        region="ap-southeast-1",
        vpc="vpc-sgapp001",
        zones=["ap-southeast-1a"],
        security_group="sg-sgapp01",
        allows_80_443=True,
        workspace="sg-default",
        latency_threshold_ms=1000,
    ),
    dict(
        name="SG apps · TLS-inspecting proxy",
        kind="privatelink_custom",
        url=f"https://vpc-ap-southeast-1.dashscope.aliyuncs.com:{TLS}",
        region="ap-southeast-1",
        vpc="vpc-sgapp001",
        zones=["ap-southeast-1a", "ap-southeast-1b"],
        allows_80_443=True,
        workspace="sg-default",
    ),
    dict(
        name="HZ apps → Beijing (cross-region)",
        kind="cross_region",
        url=f"http://ep-hz1demo.dashscope.cn-beijing.privatelink.aliyuncs.com:{HTTP}",
        region="cn-hangzhou",
        service_region="cn-beijing",
        vpc="vpc-hzapp001",
        zones=["cn-hangzhou-h", "cn-hangzhou-i"],
        security_group="sg-hzapp01",
        allows_80_443=True,
        workspace="bj-default",
    ),
    dict(
        name="Tokyo edge → Singapore (cross-region)",
        kind="cross_region",
        url=f"http://ep-tk1demo.dashscope.ap-southeast-1.privatelink.aliyuncs.com:{HTTP}",
        region="ap-northeast-1",
        service_region="ap-southeast-1",
        vpc="vpc-tokyo0001",
        zones=["ap-northeast-1a", "ap-northeast-1c"],
        security_group="sg-tokyo01",
        allows_80_443=True,
        workspace="sg-default",
    ),
    dict(
        name="SH staging → Beijing (cross-region)",
        kind="cross_region",
        url=f"http://ep-sh1demo.dashscope.cn-beijing.privatelink.aliyuncs.com:{HTTP}",
        region="cn-shanghai",
        service_region="cn-beijing",
        vpc="vpc-shstaging1",
        zones=["cn-shanghai-e", "cn-shanghai-f"],
        security_group="sg-shstg01",
        allows_80_443=True,
        workspace="bj-default",
    ),
    dict(
        name="HZ apps · vLLM on PAI-EAS",
        kind="eas_vpc",
        url=f"http://1865923474122834.vpc.cn-hangzhou.pai-eas.aliyuncs.com:{HTTP}/api/predict/{EAS_SERVICE}",
        region="cn-hangzhou",
        vpc="vpc-hzapp001",
        api_style="eas",
    ),
    dict(
        name="US analytics · public",
        kind="public",
        url=f"https://dashscope-us.aliyuncs.com:{TLS}",
        region="us-east-1",
        workspace="us-analytics",
        check_model="qwen-plus-us",
    ),
    dict(
        name="Frankfurt EU · workspace domain",
        kind="public",
        url=f"https://llm-fraeu00001.eu-central-1.maas.aliyuncs.com:{TLS}",
        region="eu-central-1",
        workspace="fra-eu",
    ),
    dict(
        name="Finance · PrivateLink",
        kind="finance_privatelink",
        url=f"http://ep-fin1demo.epsrv-fin1demo.cn-shanghai-finance-1.privatelink.aliyuncs.com:{HTTP}",
        region="cn-shanghai-finance-1",
        vpc="vpc-fin00001",
        zones=["cn-shanghai-finance-1f", "cn-shanghai-finance-1g"],
        allows_80_443=True,
        workspace="fin-risk",
        api_style="dashscope",
        check_model="qwen-plus",
    ),
]

SIMULATOR_CONFIG = {
    "dns": {
        # Inside Beijing production, the custom domain is a CNAME to the default domain.
        "cname": {
            "vpc-cn-beijing.dashscope.aliyuncs.com": "ep-bj1demo.dashscope.cn-beijing.privatelink.aliyuncs.com"
        },
        "a": {"test-for-dns.dashscope.aliyuncs.com": ["127.0.0.1"]},
    },
    "faults": [
        {
            "host": "ep-sg1demo.dashscope.ap-southeast-1.privatelink.aliyuncs.com",
            "latency_ms": 1400,
            "jitter_ms": 150,
        },
        {"host": "ep-tk1demo.dashscope.ap-southeast-1.privatelink.aliyuncs.com", "hang": True},
        {"host": "vpc-ap-southeast-1.dashscope.aliyuncs.com", "self_signed": True},
        {"host": "llm-fraeu00001.eu-central-1.maas.aliyuncs.com", "throttle": True},
        {"host": "trial.cn-beijing.maas.aliyuncs.com", "status": 503},
        {"host": "*.maas.aliyuncs.com", "latency_ms": 60, "jitter_ms": 20},
        {"host": "*.privatelink.aliyuncs.com", "latency_ms": 25, "jitter_ms": 8},
    ],
}


def _key() -> str:
    return "sk-" + secrets.token_hex(16)


class DemoWorld:
    """The demo world, created once (idempotent): later runs only print the logins and
    rewrite the simulator's config."""

    def __init__(self, out):
        self.out = out  # where the logins are printed (a management command's stdout)

    def seed(self) -> None:
        logins_path = settings.VAR_DIR / "demo-logins.json"
        with transaction.atomic():
            logins = self._users(logins_path)
            if not Workspace.objects.filter(slug="bj-default").exists():
                self._world()
                self.out.write(
                    f"Demo world created: {len(WORKSPACES)} workspaces, {len(VPCS)} VPCs, "
                    f"{len(ENDPOINTS)} endpoints."
                )
            self._agents()
            self._status()
            made = seed_costs()
            if made:
                self.out.write(
                    f"Demo costs: {made['usage_rows']:,} days of metered usage, "
                    f"{len(made['bills'])} monthly bills imported (var/demo-bills/)."
                )
        (settings.VAR_DIR / "simulator.json").write_text(json.dumps(SIMULATOR_CONFIG, indent=2))
        self._simulator_ca()
        self.out.write("")
        self.out.write("  Open http://127.0.0.1:8000 and sign in:")
        for username, role in USERS:
            self.out.write(f"    {role.label:<10} {username} / {logins[username]}")
        self.out.write("")

    def _agents(self):
        """The demo's agents; the running one's token in var/demo-agent-token (0600) for
        `make run` to start it with. A lost token file gets a new agent (the old one revoked)."""
        token_path = settings.VAR_DIR / "demo-agent-token"
        for vpc_id, name in AGENT_VPCS.items():
            vpc = Vpc.objects.filter(vpc_id=vpc_id).first()
            if vpc is None:
                continue
            current = vpc.agents.active().filter(name=name).first()
            running = name == RUNNING_AGENT
            if current is not None and (not running or token_path.exists()):
                continue
            if current is not None:
                agents.revoke_agent(current, actor=None, source="cli")
            _, token = agents.add_agent(vpc, name, actor=None, source="cli")
            if running:
                fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(token)

    def _status(self):
        """The past (90 days of uptime, latency and incidents), a weekly maintenance window
        on the finance VPC and a webhook channel to the demo's receiver on 127.0.0.1:8990,
        whose signing secret is in var/demo-webhook-secret (0600) for the receiver to check."""
        ops = User.objects.get(username="ops")
        admin = User.objects.get(username="admin")
        created = seed_history(acknowledger=ops)
        if created:
            self.out.write(f"Demo history: 90 days, {created} past incidents.")
        if not MaintenanceWindow.objects.filter(name=MAINTENANCE_NAME).exists():
            vpc = Vpc.objects.filter(vpc_id="vpc-fin00001").first()
            tz = ZoneInfo("Asia/Shanghai")
            today = timezone.localtime(timezone.now(), tz).date()
            sunday = today + timedelta(days=(6 - today.weekday()) % 7)
            starts = datetime.combine(sunday, time(2, 0), tz)
            save_window(
                MaintenanceWindow(
                    name=MAINTENANCE_NAME,
                    vpc=vpc,
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=2),
                    recurrence="WEEKLY",
                    timezone="Asia/Shanghai",
                ),
                actor=admin,
                source="cli",
            )
        secret_path = settings.VAR_DIR / "demo-webhook-secret"
        channel = Channel.objects.filter(name=CHANNEL_NAME).first()
        if channel is None or not secret_path.exists():
            secret = secrets.token_urlsafe(24)
            save_channel(
                channel or Channel(name=CHANNEL_NAME, kind="webhook"),
                actor=admin,
                target=f"http://127.0.0.1:{RECEIVER}/hook",
                secret=secret,
                source="cli",
            )
            fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secret)
        refresh_summaries(Endpoint.objects.values_list("pk", flat=True))

    def _users(self, path):
        logins = json.loads(path.read_text()) if path.exists() else {}
        for username, role in USERS:
            user = User.objects.filter(username=username).first()
            if user is None or username not in logins:
                logins[username] = secrets.token_urlsafe(9)
                user = user or User(username=username)
                user.role = role
                user.set_password(logins[username])
                user.save()
        path.write_text(json.dumps(logins))
        path.chmod(0o600)
        return logins

    def _world(self):
        admin = User.objects.get(username="admin")
        workspaces = {}
        for slug, name, ws_id, region, scope, default, grants, budget in WORKSPACES:
            ws = Workspace.objects.create(
                slug=slug,
                name=name,
                workspace_id=ws_id,
                region_id=region,
                scope=scope,
                is_default=default,
                monthly_budget=budget,
                currency="CNY" if region.startswith("cn-") else "USD",
            )
            for model in grants:
                ModelGrant.objects.create(
                    workspace=ws, model=CatalogModel.objects.get(name=model), granted_by=admin
                )
            key = ApiKey(workspace=ws, label=f"{name} probe key", created_by=admin)
            key.set_secret(_key())
            if slug == "us-analytics":
                key.revoked_at = timezone.now()  # someone revoked the only key: probes say so
            key.save()
            workspaces[slug] = ws
        lead = User.objects.get(username="lead")
        for slug in LEAD_OF:
            Membership.objects.create(workspace=workspaces[slug], user=lead, is_lead=True)

        vpcs = {}
        for vpc_id, name, region, cidr, overrides in VPCS:
            vpcs[vpc_id] = Vpc.objects.create(
                vpc_id=vpc_id,
                name=name,
                region_id=region,
                cidr=cidr,
                resolver=RESOLVER,
                host_overrides=overrides,
                probed_by="agents" if vpc_id in AGENT_VPCS else "central",
            )
        for a, b in CONNECTED:
            vpcs[a].connected_vpcs.add(vpcs[b])

        eas_token = EasToken(region_id="cn-hangzhou", label="demo_vllm token", created_by=admin)
        eas_token.set_secret(secrets.token_urlsafe(30))
        eas_token.save()
        for spec in ENDPOINTS:
            spec = dict(spec)
            endpoint = Endpoint(
                name=spec.pop("name"),
                kind=spec.pop("kind"),
                url=spec.pop("url"),
                region_id=spec.pop("region"),
                service_region_id=spec.pop("service_region", None),
                vpc=vpcs.get(spec.pop("vpc", None)),
                endpoint_vpc=vpcs.get(spec.pop("endpoint_vpc", None)),
                workspace=workspaces.get(spec.pop("workspace", None)),
                check_model=CatalogModel.objects.filter(name=spec.pop("check_model", None)).first(),
                created_by=admin,
                **spec,
            )
            if endpoint.kind in ("eas_public", "eas_vpc"):
                endpoint.eas_token = eas_token
            check_endpoint(endpoint)  # the demo obeys the same rules as everyone
            endpoint.save()
        schedules.sync(Endpoint.objects.values_list("pk", flat=True))

    def _simulator_ca(self):
        # Made before the worker starts, so SSL_CERT_FILE points at a file that exists.
        from endpoints.devtools.simulator.tls import CertificateAuthority

        CertificateAuthority(settings.VAR_DIR / "simulator", settings.VAR_DIR / "simulator-ca.pem")
