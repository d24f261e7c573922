"""Property-based tests of every form of the UI: Hypothesis posts generated values (valid
choices, odd text, numbers as text, NUL, markup, very long strings) to each form and filter.

For every example:
- no 500 (the test client re-raises a view's exception, so one fails the test with its
  traceback) and no other 5xx;
- a refused submission shows each error on the page: an error of a field the form shows is in
  that field's place (`components/field.html`), any other in the form's alert;
- a refused submission (and every GET, every validation-only POST) stores nothing: every row of
  the project's tables, the audit log included, is unchanged.

Bounded: a fixed number of examples per form, derandomized (no flakes), no deadline.
"""

from dataclasses import dataclass, field

import pytest
from django.test.utils import ContextList
from django.utils import timezone
from django.utils.html import escape
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from endpoints.agents.services import add_agent
from endpoints.network.choices import Diagnosis, Kind, Status
from endpoints.status.models import Incident
from portal.alerts.models import Channel
from portal.alerts.services import save_channel
from portal.audit.models import AuditEntry
from tests.conftest import random_key
from tests.snapshot import database_state

ODD = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "0",
    "-1",
    "1e309",
    "NaN",
    "99999999999999999999999",
    "<script>alert(1)</script>",
    "'; DROP TABLE endpoints; --",
    "../../etc/passwd",
    "x" * 5000,
    "²",
    "٣",
    "on",
    "unknown",
    "true",
    "http://",
    "https://[::1]:99999",
]
TEXT = st.one_of(
    st.sampled_from(ODD),
    st.text(max_size=40),  # any Unicode (form data cannot carry a lone surrogate)
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._:/", max_size=60),
)


def one_of(*valid):
    """A valid value (half the time) or anything else."""
    return st.one_of(st.sampled_from(valid), TEXT)


REGIONS = ("cn-beijing", "ap-southeast-1", "us-east-1", "cn-hangzhou", "eu-central-1")
BOOL = one_of("on", "")
ENDPOINT_FIELDS = {
    "kind": one_of(*Kind.values),
    "name": one_of("fuzzed endpoint"),
    "url": one_of(
        "http://ep-fuzz0001.dashscope.cn-beijing.privatelink.aliyuncs.com",
        "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions",
        "http://1234.vpc.cn-beijing.pai-eas.aliyuncs.com/api/predict/svc",
    ),
    "region": one_of(*REGIONS),
    "service_region": one_of("cn-beijing", "ap-southeast-1"),
    "vpc": one_of("{vpc}", "{spare_vpc}"),
    "endpoint_vpc": one_of("{spare_vpc}"),
    "api_style": one_of("openai", "dashscope", "anthropic", "eas"),
    "zones": one_of("cn-beijing-a, cn-beijing-b", "cn-beijing-a", ",".join(["cn-beijing-a"] * 30)),
    "security_group": one_of("sg-fuzz0001"),
    "allows_80_443": one_of("unknown", "true", "false"),
    "workspace": one_of("{workspace_a}", "{workspace_b}"),
    "check_model": one_of("{qwen_plus}"),
    "model_call_check": BOOL,
    "interval_s": one_of("60", "10", "86400", "9", "86401"),
    "latency_threshold_ms": one_of("3000", "0", "600001"),
    "enabled": BOOL,
    "eas_token_secret": one_of("ZGI1YWYxNjM5OTdlMmNlYjU1OTMwNzE4"),
}
WORKSPACE_FIELDS = {
    "name": one_of("Fuzz team"),
    "slug": one_of("fuzz-team", "team-a"),
    "workspace_id": one_of("llm-fuzz0001", "llm_fuzz"),
    "region": one_of(*REGIONS),
    "scope": one_of("mainland", "international", "us", "galaxy"),
    "is_default": BOOL,
    "monthly_budget": one_of("100", "-5", "1e20", "12.345"),
    "currency": one_of("CNY", "USD", "EUR"),
}
VPC_FIELDS = {
    "vpc_id": one_of("vpc-fuzz0001", "vpc-bjtest01"),
    "name": one_of("fuzz vpc"),
    "region": one_of(*REGIONS),
    "cidr": one_of("10.200.0.0/16", "10.200.0.1/16", "8.8.8.0/24", "10.200.0.0"),
    "resolver": one_of("100.100.2.136", "127.0.0.1:53", "dns.local"),
    "host_overrides": one_of("a.example = 10.200.0.5", "bad line", "x = not-an-address"),
    "connected_vpcs": one_of("{spare_vpc}", "{vpc}"),
    "probed_by": one_of("central", "agents", "satellites"),
}

CHANNEL_FIELDS = {
    "name": one_of("on-call", "fuzz channel"),
    "kind": one_of("webhook", "email", "dingtalk", "feishu", "wecom", "slack", "pager"),
    "target": one_of("http://127.0.0.1:9/hook", "ops@example.com", "ftp://x", "http:// x"),
    "secret": one_of("", "s3cret", "x" * 300),
    "events": one_of("incident_opened", "incident_closed", "bogus"),
    "vpcs": one_of("{vpc}", "999999"),
    "workspaces": one_of("{workspace_a}"),
    "remind_every_min": one_of("", "30", "1", "99999999"),
    "enabled": BOOL,
}


@dataclass
class Form:
    path: str
    fields: dict
    method: str = "post"
    # Did this response save something? (Otherwise the database must be as it was.)
    saved: object = field(default=lambda response: False)
    # A submission that can be refused (the validation-only POSTs answer with what they found).
    submits: bool = True


def redirected(response):
    return response.status_code == 302


def _flashed(response) -> set[str]:
    """The levels of the messages a redirecting view flashed ('success', 'error')."""
    storage = getattr(response.wsgi_request, "_messages", None)
    return {m.level_tag for m in getattr(storage, "_queued_messages", [])}


def answered_with(status, marker=""):
    return lambda response: response.status_code == status and marker in response.text


FORMS = {
    "login": Form(
        "/login/", {"username": one_of("alice-admin"), "password": TEXT}, saved=redirected
    ),
    "token-create": Form(
        "/profile/tokens/",
        {"name": one_of("ci export")},
        saved=answered_with(200, 'id="new-token"'),
    ),
    "workspace-create": Form("/workspaces/new/", WORKSPACE_FIELDS, saved=redirected),
    "workspace-edit": Form("/workspaces/team-a/edit/", WORKSPACE_FIELDS, saved=redirected),
    "workspace-key-add": Form(
        "/workspaces/team-a/keys/",
        {"label": one_of("fuzz key"), "secret": one_of(random_key(), "sk-short", "sk-" + "é" * 30)},
        saved=answered_with(200),  # 422 with the errors
    ),
    "workspace-member-add": Form(
        "/workspaces/team-a/members/",
        {"username": one_of("leo-lead-b", "oscar-ops", "nobody"), "is_lead": BOOL},
        saved=answered_with(200),  # 422 with the errors
    ),
    "vpc-create": Form("/vpcs/new/", VPC_FIELDS, saved=redirected),
    "vpc-edit": Form("/vpcs/{vpc}/edit/", VPC_FIELDS, saved=redirected),
    "endpoint-create": Form("/endpoints/new/", ENDPOINT_FIELDS, saved=redirected),
    "endpoint-edit": Form("/endpoints/{endpoint}/edit/", ENDPOINT_FIELDS, saved=redirected),
    "endpoint-validate": Form(
        "/endpoints/validate/?field=url",
        {**ENDPOINT_FIELDS, "endpoint_pk": one_of("{endpoint}")},
        submits=False,
    ),
    "endpoint-parse-url": Form(
        "/endpoints/parse-url/",
        {
            "paste": one_of(
                "curl https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions",
                "base_url='http://ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com/v1'",
            ),
            "name": TEXT,
        },
        submits=False,
    ),
    "cost-price-create": Form(
        "/costs/prices/new/",
        {
            "model": one_of("{qwen_plus}", "999999"),
            "region": one_of(*REGIONS),
            "currency": one_of("", "CNY", "USD", "EUR"),
            "effective_from": one_of("2030-01-01", "2030-02-30", "soon"),
            "input_per_million": one_of("0.8", "-1", "1e30", "NaN"),
            "output_per_million": one_of("2", "0", "abc"),
            "tiers": one_of("", "32768 2.4 12", "32768 2.4", "x y z"),
            "batch_ratio": one_of("", "0.5", "2", "-0.5"),
            "cache_hit_ratio": one_of("", "0.4", "1.5"),
        },
        saved=redirected,
    ),
    "maintenance-create": Form(
        "/maintenance/",
        {
            "name": one_of("patching"),
            "endpoint": one_of("{endpoint}", "999999"),
            "vpc": one_of("{vpc}"),
            "starts_at": one_of("2030-01-06 02:00", "2030-02-30 02:00", "tomorrow"),
            "ends_at": one_of("2030-01-06 04:00", "2030-01-05 04:00", "2030-03-06 04:00"),
            "recurrence": one_of("", "DAILY", "WEEKLY", "MONTHLY", "HOURLY"),
            "repeat_until": one_of("", "2030-06-01 00:00", "2029-01-01 00:00"),
            "timezone": one_of("UTC", "Asia/Shanghai", "Mars/Olympus", "asia/shanghai"),
        },
        saved=redirected,
    ),
    "channel-create": Form("/alerts/", CHANNEL_FIELDS, saved=redirected),
    "channel-edit": Form("/alerts/{channel}/", CHANNEL_FIELDS, saved=redirected),
    "incident-ack": Form(
        "/incidents/{incident}/ack/",
        {"note": one_of("", "Security group fixed", "x" * 2001)},
        saved=lambda response: response.status_code == 302 and b"refused" not in response.content,
    ),
    "vpc-agent-add": Form(
        "/vpcs/{vpc}/agents/add/",
        {"name": one_of("agent-b", "agent-a", "", "a b")},
        saved=answered_with(200, "apa_"),  # the token, shown once
    ),
    # Filters and other GET forms: never store anything.
    "incident-list": Form("/incidents/", {"show": one_of("open", "all")}, method="get"),
    "sla-report": Form(
        "/workspaces/team-a/sla/",
        {"month": one_of("2026-11", "2026-13", "1999-01", "2026"), "format": one_of("csv")},
        method="get",
    ),
    "endpoint-list": Form(
        "/endpoints/",
        {
            "q": TEXT,
            "status": one_of(*Status.values),
            "kind": one_of(*Kind.values),
            "region": one_of(*REGIONS),
            "vpc": one_of("vpc-bjtest01", "{vpc}"),
            "workspace": one_of("team-a"),
            "diagnosis": one_of(*Diagnosis.values),
            "sort": one_of("name", "-status", "latency"),
            "page": one_of("1", "2", "0", "last"),
        },
        method="get",
    ),
    "audit-list": Form(
        "/audit/",
        {
            "actor": TEXT,
            "action": one_of(*AuditEntry.Action.values),
            "target_type": one_of("endpoint", "workspace"),
            "q": TEXT,
            "since": one_of("2026-01-01", "2026-02-30", "yesterday"),
            "until": one_of("2026-12-31"),
            "page": one_of("1", "99"),
        },
        method="get",
    ),
    "cost-split": Form(
        "/costs/",
        {
            "range": one_of("this_month", "last_month", "custom", "fortnight"),
            "start": one_of("2026-03-01", "1999-01-01", "2026-02-30", "yesterday"),
            "end": one_of("2026-03-31", "2100-01-01", "2026-13-01"),
            "workspace": one_of("team-a", "team-b"),
            "format": one_of("csv", "html"),
            "table": one_of("workspaces", "models", "days", "keys"),
        },
        method="get",
    ),
    "cost-workspace": Form(
        "/costs/workspaces/team-a/",
        {
            "range": one_of("this_month", "custom"),
            "start": one_of("2026-03-01", "2026-03-32"),
            "end": one_of("2026-03-31"),
            "table": one_of("models", "keys", "days"),
            "format": one_of("csv"),
        },
        method="get",
    ),
    "cost-reconciliation": Form(
        "/costs/reconciliation/",
        {"month": one_of("2026-03", "2026-13", "1999-01"), "workspace": one_of("team-a")},
        method="get",
    ),
    "probe-board": Form("/probes/", {"run": one_of("{run}", "not-a-uuid")}, method="get"),
    "workspace-scope-options": Form(
        "/workspaces/scope-options/",
        {"region": one_of(*REGIONS), "scope": one_of("mainland")},
        method="get",
    ),
    "endpoint-form-for-kind": Form(
        "/endpoints/form/",
        {
            "kind": one_of(*Kind.values),
            "endpoint": one_of("{endpoint}", "abc"),
            "url": TEXT,
            "region": one_of(*REGIONS),
            "name": TEXT,
        },
        method="get",
    ),
    "endpoint-create-initial": Form(
        "/endpoints/new/",
        {"kind": one_of(*Kind.values), "url": TEXT, "region": one_of(*REGIONS), "name": TEXT},
        method="get",
    ),
}


def _context(response) -> dict:
    """The template context of a test client response, as one dict."""
    context = response.context
    if context is None:
        return {}
    merged = {}
    for part in context if isinstance(context, ContextList) else [context]:
        merged.update(part.flatten())
    return merged


@pytest.fixture
def world(admin, ops, lead_a, lead_b, workspace_a, workspace_b, make_vpc, make_endpoint):
    from endpoints.probes.models import ProbeRun
    from portal.workspaces.models import CatalogModel

    vpc = make_vpc()
    spare = make_vpc("vpc-spare001")
    endpoint = make_endpoint(vpc=vpc, workspace=workspace_a, allows_80_443=True)
    add_agent(vpc, "agent-a", actor=admin)
    channel = save_channel(
        Channel(name="on-call", kind="webhook"), actor=admin, target="http://127.0.0.1:9/hook"
    )
    incident = Incident.objects.create(
        endpoint=endpoint,
        location="central",
        status="down",
        diagnosis="tcp_timeout",
        message="No TCP answer",
        opened_at=timezone.now(),
    )
    return {
        "channel": channel.pk,
        "incident": incident.pk,
        "admin": admin,
        "vpc": vpc.pk,
        "spare_vpc": spare.pk,
        "endpoint": endpoint.pk,
        "workspace_a": workspace_a.pk,
        "workspace_b": workspace_b.pk,
        "qwen_plus": CatalogModel.objects.get(name="qwen-plus").pk,
        "run": ProbeRun.objects.create(total=1).pk,
    }


def _placeholder(value, world):
    """'{vpc}' → the id of the world's VPC; anything else as generated."""
    if value.startswith("{") and value.endswith("}") and value[1:-1] in world:
        return str(world[value[1:-1]])
    return value


def assert_errors_are_shown(response, refused):
    """Every error of every bound form in the page is in the HTML (where the template puts
    field errors: next to the field; the others: in the form's alert). An htmx fragment has no
    template context to read: a refused one must at least show an error."""
    html = response.content.decode()
    context = _context(response)
    if not context:
        if refused:
            assert "invalid-feedback" in html or "alert-danger" in html, html[:500]
        return
    for name, value in context.items():
        errors = getattr(value, "errors", None)
        if not (name.endswith("form") and getattr(value, "is_bound", False) and errors):
            continue
        for field_name, messages in errors.items():
            assert field_name in value.fields or field_name == "__all__", (
                f"{name} has an error for '{field_name}', which it does not show"
            )
            for message in messages:
                assert escape(message) in html, f"{field_name}: {message!r} is not on the page"


@pytest.mark.parametrize("name", list(FORMS))
def test_every_form_refuses_bad_input_cleanly(world, client_for, name):
    form = FORMS[name]
    client = client_for(None if name == "login" else world["admin"])
    path = form.path.format(**world)
    fields = {
        key: strategy.map(lambda v: _placeholder(v, world)) for key, strategy in form.fields.items()
    }

    @settings(
        max_examples=60,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.fixed_dictionaries({}, optional=fields))
    def submit(data):
        before = database_state()
        response = getattr(client, form.method)(path, data)
        assert response.status_code < 500, response.status_code
        saved = form.saved(response)
        if response.status_code in (200, 400, 422):
            assert_errors_are_shown(
                response, refused=form.method == "post" and form.submits and not saved
            )
        if not saved:
            assert database_state() == before, f"{response.status_code}: refused, yet stored"

    submit()


# Forms posted to a URL of their own, shown on another page (plain HTML forms there: the page
# must still carry each input the view reads).
SHOWN_ON = {
    "token-create": "/profile/",
    "workspace-key-add": "/workspaces/team-a/",
    "workspace-member-add": "/workspaces/team-a/",
    "vpc-agent-add": "/vpcs/{vpc}/agents/",
    "incident-ack": "/incidents/{incident}/",
}
HAND_WRITTEN_INPUTS = {  # for the pages above: the inputs their views read
    "token-create": ["name"],
    "workspace-key-add": ["label", "secret"],
    "workspace-member-add": ["username", "is_lead"],
    "vpc-agent-add": ["name"],
    "incident-ack": ["note"],
}


@pytest.mark.parametrize(
    "name",
    [n for n, f in FORMS.items() if f.method == "post" and f.submits],
)
def test_every_form_shows_each_of_its_fields(world, client_for, name):
    """A field the template leaves out can only fail, and its error would be nowhere on the
    page (the VPC form once hid 'Probed by', so a new VPC could not be saved)."""
    path = SHOWN_ON.get(name, FORMS[name].path).format(**world)
    response = client_for(None if name == "login" else world["admin"]).get(path)
    assert response.status_code == 200
    html = response.content.decode()
    forms = [
        value
        for key, value in _context(response).items()
        if key.endswith("form") and hasattr(value, "fields") and hasattr(value, "add_prefix")
    ]
    assert forms or name in SHOWN_ON, f"{path} has no form in its context"
    for form in forms:
        for field_name, bound in form.fields.items():
            if bound.widget.is_hidden or bound.disabled:
                continue
            assert f'name="{form.add_prefix(field_name)}"' in html, (
                f"{path}: the form's '{field_name}' is not on the page"
            )
    for field_name in HAND_WRITTEN_INPUTS.get(name, []):
        assert f'name="{field_name}"' in html, f"{path}: no input '{field_name}'"
