"""Endpoint registration rules from the docs: a table of valid and invalid registrations.

Every rule is tried on both sides through the JSON API; a sample also goes through the
browser form (test_browser.py). An invalid registration is a 400 naming the field and
the fix, and changes nothing.
"""

import json

import pytest

from endpoints.network.models import Endpoint, Vpc

BJ_DEFAULT = "http://ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com"
BASE = {
    "name": "bj private",
    "kind": "privatelink_default",
    "url": BJ_DEFAULT,
    "region": "cn-beijing",
    "vpc": "vpc-bj0001",
    "zones": ["cn-beijing-a", "cn-beijing-b"],
    "security_group": "sg-bj0001",
    "allows_80_443": True,
    "workspace": "bj-main",
    "interval_s": 60,
}
EAS_TOKEN = "ZGI1YWYxNjM5OTdlMmNlYjU1OTMwNzE4"


def public(url, workspace, region, **extra):
    return {
        "kind": "public",
        "url": url,
        "region": region,
        "workspace": workspace,
        "vpc": None,
        "zones": [],
        "security_group": "",
        "allows_80_443": None,
        **extra,
    }


def cross(region, service, vpc, url, workspace, **extra):
    return {
        "kind": "cross_region",
        "region": region,
        "service_region": service,
        "vpc": vpc,
        "url": url,
        "workspace": workspace,
        "zones": [f"{region}-a", f"{region}-b"],
        **extra,
    }


def eas(kind, url, region, vpc, **extra):
    return {
        "kind": kind,
        "url": url,
        "region": region,
        "vpc": vpc,
        "workspace": None,
        "eas_token": EAS_TOKEN,
        "zones": [],
        "security_group": "",
        "api_style": "eas",
        **extra,
    }


VALID = [
    ("privatelink default domain", {}, None),
    (
        "privatelink short default domain",
        {"url": "http://ep-abc123.privatelink.aliyuncs.com"},
        None,
    ),
    (
        "custom domain over https",
        {"kind": "privatelink_custom", "url": "https://vpc-cn-beijing.dashscope.aliyuncs.com"},
        None,
    ),
    (
        "custom domain with instance id",
        {
            "kind": "privatelink_custom",
            "url": "https://vpc-abc123.cn-beijing.dashscope.aliyuncs.com",
        },
        None,
    ),
    ("public shared host", public("https://dashscope.aliyuncs.com", "bj-main", "cn-beijing"), None),
    (
        "public workspace domain",
        public("https://llm-bjmain01.cn-beijing.maas.aliyuncs.com", "bj-main", "cn-beijing"),
        None,
    ),
    (
        "public singapore",
        public("https://dashscope-intl.aliyuncs.com", "sg-main", "ap-southeast-1"),
        None,
    ),
    ("public virginia", public("https://dashscope-us.aliyuncs.com", "us-main", "us-east-1"), None),
    (
        "public frankfurt workspace domain",
        public("https://llm-fra00001.eu-central-1.maas.aliyuncs.com", "fra", "eu-central-1"),
        None,
    ),
    (
        "cross-region hangzhou to beijing",
        cross(
            "cn-hangzhou",
            "cn-beijing",
            "vpc-hz0001",
            "http://ep-hz1234.dashscope.cn-beijing.privatelink.aliyuncs.com",
            "bj-main",
        ),
        None,
    ),
    (
        "cross-region tokyo to singapore",
        cross(
            "ap-northeast-1",
            "ap-southeast-1",
            "vpc-tk0001",
            "http://ep-tk1234.dashscope.ap-southeast-1.privatelink.aliyuncs.com",
            "sg-main",
        ),
        None,
    ),
    (
        "finance cloud",
        {
            "kind": "finance_privatelink",
            "region": "cn-shanghai-finance-1",
            "vpc": "vpc-fin0001",
            "url": "http://ep-zm0i0c6d276715.epsrv-zm0qfzkk1lcxfr3e.cn-shanghai-finance-1.privatelink.aliyuncs.com",
            "zones": ["cn-shanghai-finance-1f", "cn-shanghai-finance-1g"],
            "workspace": "fin",
        },
        None,
    ),
    (
        "eas public",
        eas(
            "eas_public",
            "http://1684.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/test",
            "cn-hangzhou",
            None,
        ),
        None,
    ),
    (
        "eas vpc same region",
        eas(
            "eas_vpc",
            "http://1684.vpc.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/test",
            "cn-hangzhou",
            "vpc-hz0001",
        ),
        None,
    ),
    (
        "eas dedicated gateway https",
        eas(
            "eas_public",
            "https://gw-1684abc.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/llm",
            "cn-hangzhou",
            None,
        ),
        None,
    ),
    ("explicit port is allowed but shown", {"url": BJ_DEFAULT + ":8080"}, "Explicit port :8080"),
    ("one zone is allowed but flagged", {"zones": ["cn-beijing-a"]}, "No zone failover"),
    (
        "http on the custom domain is flagged",
        {"kind": "privatelink_custom", "url": "http://vpc-cn-beijing.dashscope.aliyuncs.com"},
        "supports HTTPS",
    ),
    (
        "security group without 80/443 is flagged",
        {"allows_80_443": False},
        "does not allow inbound TCP 80/443",
    ),
    ("unknown security group rule is flagged", {"allows_80_443": None}, "Not confirmed"),
    (
        "custom domain over CEN needs private dns",
        {
            "kind": "privatelink_custom",
            "url": "https://vpc-cn-beijing.dashscope.aliyuncs.com",
            "vpc": "vpc-sg0001",
            "endpoint_vpc": "vpc-bj0001",
        },
        "Private DNS",
    ),
    ("default domain over CEN", {"vpc": "vpc-sg0001", "endpoint_vpc": "vpc-bj0001"}, None),
    (
        "frankfurt privatelink is not documented",
        {
            "kind": "privatelink_default",
            "region": "eu-central-1",
            "vpc": "vpc-fra0001",
            "url": "http://ep-fra123.dashscope.eu-central-1.privatelink.aliyuncs.com",
            "zones": ["eu-central-1a", "eu-central-1b"],
            "workspace": "fra",
        },
        "do not state PrivateLink support",
    ),
    ("the minimum interval", {"interval_s": 10}, None),
    (
        "a pasted request URL is normalised",
        {"url": BJ_DEFAULT + "/compatible-mode/v1/chat/completions"},
        None,
    ),
    (
        "a model check the workspace may call",
        {"workspace": "bj-sub", "check_model": "qwen-plus"},
        None,
    ),
]

INVALID = [
    (
        "underscore in a private dns name",
        {"kind": "privatelink_custom", "url": "https://test_for_dns.dashscope.aliyuncs.com"},
        "url",
        "test-for-dns.dashscope.aliyuncs.com instead",
    ),
    (
        "https on the default domain",
        {"url": BJ_DEFAULT.replace("http://", "https://")},
        "url",
        "supports HTTP only",
    ),
    (
        "privatelink in virginia",
        {
            "region": "us-east-1",
            "vpc": "vpc-us0001",
            "workspace": "us-main",
            "url": "http://ep-us1234.dashscope.us-east-1.privatelink.aliyuncs.com",
            "zones": ["us-east-1a", "us-east-1b"],
        },
        "region",
        "does not support private access",
    ),
    (
        "cross-region from the mainland abroad",
        cross(
            "cn-hangzhou",
            "ap-southeast-1",
            "vpc-hz0001",
            "http://ep-hz1234.dashscope.ap-southeast-1.privatelink.aliyuncs.com",
            "sg-main",
        ),
        "service_region",
        "Use CEN instead",
    ),
    (
        "cross-region from abroad into the mainland",
        cross(
            "ap-northeast-1",
            "cn-beijing",
            "vpc-tk0001",
            "http://ep-tk1234.dashscope.cn-beijing.privatelink.aliyuncs.com",
            "bj-main",
        ),
        "service_region",
        "cannot connect the Chinese mainland",
    ),
    (
        "cross-region to virginia",
        cross(
            "cn-hangzhou",
            "us-east-1",
            "vpc-hz0001",
            "http://ep-hz1234.dashscope.us-east-1.privatelink.aliyuncs.com",
            "us-main",
        ),
        "service_region",
        "China (Beijing) or Singapore",
    ),
    (
        "cross-region within one region",
        cross(
            "cn-beijing",
            "cn-beijing",
            "vpc-bj0001",
            "http://ep-bj1234.dashscope.cn-beijing.privatelink.aliyuncs.com",
            "bj-main",
        ),
        "service_region",
        "register a PrivateLink endpoint instead",
    ),
    (
        "cross-region without a service region",
        cross(
            "cn-hangzhou",
            None,
            "vpc-hz0001",
            "http://ep-hz1234.dashscope.cn-beijing.privatelink.aliyuncs.com",
            "bj-main",
        ),
        "service_region",
        "Choose the service region",
    ),
    ("vpc in another region", {"vpc": "vpc-hz0001"}, "vpc", "is in cn-hangzhou"),
    ("private kind without a vpc", {"vpc": None}, "vpc", "reachable only from inside a VPC"),
    (
        "eas vpc address from another region",
        eas(
            "eas_vpc",
            "http://1684.vpc.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/test",
            "cn-hangzhou",
            "vpc-bj0001",
        ),
        "vpc",
        "only from a VPC in the service's region",
    ),
    (
        "eas without a token",
        eas(
            "eas_public",
            "http://1684.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/test",
            "cn-hangzhou",
            None,
            eas_token=None,
        ),
        "eas_token",
        "needs its EAS token",
    ),
    (
        "eas token that is a model studio key",
        eas(
            "eas_public",
            "http://1684.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/test",
            "cn-hangzhou",
            None,
            eas_token="sk-0123456789abcdef0123456789abcdef",
        ),
        "eas_token",
        "Model Studio API key",
    ),
    ("workspace of another region", {"workspace": "sg-main"}, "workspace", "region-bound"),
    (
        "no workspace for model studio",
        {"workspace": None},
        "workspace",
        "whose API key the probes use",
    ),
    (
        "workspace domain of another workspace",
        public("https://llm-someoneelse.cn-beijing.maas.aliyuncs.com", "bj-main", "cn-beijing"),
        "workspace",
        "accepts only that workspace's keys",
    ),
    ("too frequent probes", {"interval_s": 5}, "interval_s", "at most every 10 seconds"),
    (
        "kind does not match the host",
        public(
            "http://ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com",
            "bj-main",
            "cn-beijing",
        ),
        "url",
        "Choose the kind 'PrivateLink, default domain'",
    ),
    (
        "host names another region",
        {
            "region": "ap-southeast-1",
            "vpc": "vpc-sg0001",
            "workspace": "sg-main",
            "zones": ["ap-southeast-1a", "ap-southeast-1b"],
        },
        "region",
        "names region cn-beijing",
    ),
    (
        "custom domain in the finance cloud",
        {
            "kind": "privatelink_custom",
            "region": "cn-shanghai-finance-1",
            "vpc": "vpc-fin0001",
            "url": "https://vpc-cn-shanghai-finance-1.dashscope.aliyuncs.com",
            "workspace": "fin",
            "zones": ["cn-shanghai-finance-1f", "cn-shanghai-finance-1g"],
        },
        "kind",
        "have no custom domain",
    ),
    (
        "finance kind outside the finance region",
        {
            "kind": "finance_privatelink",
            "url": "http://ep-zm0i.epsrv-zm0q.cn-beijing.privatelink.aliyuncs.com",
        },
        "region",
        "China East 2 Finance",
    ),
    ("unknown kind", {"kind": "vpn"}, "kind", "Unknown kind"),
    (
        "not an http url",
        {"url": "ftp://ep-abc123.privatelink.aliyuncs.com"},
        "url",
        "use http:// or https://",
    ),
    (
        "a placeholder left in the host",
        {"url": "http://ep-***.dashscope.cn-beijing.privatelink.aliyuncs.com"},
        "url",
        "placeholder",
    ),
    (
        "a bad security group id",
        {"security_group": "sg_bj 01"},
        "security_group",
        "not a security group ID",
    ),
    ("a bad zone id", {"zones": ["zone a"]}, "zones", "zone IDs look like"),
    (
        "a service region on a non cross-region kind",
        {"service_region": "ap-southeast-1"},
        "service_region",
        "Only cross-region",
    ),
    (
        "an eas token on model studio",
        {"eas_token": EAS_TOKEN},
        "eas_token",
        "Only PAI-EAS endpoints take an EAS token",
    ),
    ("the eas style on model studio", {"api_style": "eas"}, "api_style", "for PAI-EAS services"),
    (
        "cen between vpcs that are not connected",
        {
            "vpc": "vpc-bj0002",
            "endpoint_vpc": "vpc-sg0001",
            "region": "ap-southeast-1",
            "workspace": "sg-main",
            "url": "http://ep-sg1234.dashscope.ap-southeast-1.privatelink.aliyuncs.com",
            "zones": ["ap-southeast-1a", "ap-southeast-1b"],
        },
        "endpoint_vpc",
        "are not connected",
    ),
    ("an unknown vpc", {"vpc": "vpc-nowhere1"}, "vpc", "Unknown vpc"),
    (
        "public endpoint in a region without model studio",
        public("https://dashscope.aliyuncs.com", "bj-main", "cn-hangzhou"),
        "region",
        "Model Studio does not serve",
    ),
    (
        "a model not offered in the region",
        {"check_model": "qwen-plus-us"},
        "check_model",
        "not offered in China (Beijing)",
    ),
    (
        "a model call without a model",
        {"model_call_check": True},
        "check_model",
        "needs the model to call",
    ),
]


@pytest.fixture
def world(admin, make_workspace, make_vpc):
    make_workspace("bj-main", region="cn-beijing", default=True, workspace_id="llm-bjmain01")
    make_workspace("bj-sub", region="cn-beijing", models=["qwen-plus"])
    make_workspace("sg-main", region="ap-southeast-1", default=True)
    make_workspace("us-main", region="us-east-1", default=True)
    make_workspace("fra", region="eu-central-1", default=True, workspace_id="llm-fra00001")
    make_workspace("fin", region="cn-shanghai-finance-1", default=True)
    for vpc_id, region, octet in [
        ("vpc-bj0001", "cn-beijing", 1),
        ("vpc-bj0002", "cn-beijing", 2),
        ("vpc-sg0001", "ap-southeast-1", 3),
        ("vpc-hz0001", "cn-hangzhou", 4),
        ("vpc-tk0001", "ap-northeast-1", 5),
        ("vpc-us0001", "us-east-1", 6),
        ("vpc-fin0001", "cn-shanghai-finance-1", 7),
        ("vpc-fra0001", "eu-central-1", 8),
    ]:
        make_vpc(vpc_id, region=region, cidr=f"10.{octet}.0.0/16")
    Vpc.objects.get(vpc_id="vpc-sg0001").connected_vpcs.add(Vpc.objects.get(vpc_id="vpc-bj0001"))
    return admin


def register(api_client, admin, changes):
    payload = {**BASE, **changes}
    payload = {k: v for k, v in payload.items() if v is not None or k in {"allows_80_443"}}
    return api_client(admin).post("/api/v1/endpoints", json.dumps(payload))


def test_the_table_covers_every_rule_on_both_sides():
    assert len(VALID) + len(INVALID) >= 40


@pytest.mark.parametrize(("case", "changes", "warning"), VALID, ids=[c[0] for c in VALID])
def test_valid_registrations(world, api_client, case, changes, warning):
    response = register(api_client, world, changes)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "unknown" and body["id"]
    endpoint = Endpoint.objects.get(pk=body["id"])
    assert "/chat/completions" not in endpoint.url  # stored as a base URL
    if warning:
        assert any(warning in w for w in body["warnings"]), body["warnings"]


@pytest.mark.parametrize(
    ("case", "changes", "field", "words"), INVALID, ids=[c[0] for c in INVALID]
)
def test_invalid_registrations_name_the_rule_and_change_nothing(
    world, api_client, case, changes, field, words
):
    before = Endpoint.objects.count()
    response = register(api_client, world, changes)
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert field in errors, errors
    assert any(words in message for message in errors[field]), errors[field]
    assert Endpoint.objects.count() == before


def test_registering_the_same_domain_twice_is_refused(world, api_client):
    assert register(api_client, world, {}).status_code == 201
    response = register(api_client, world, {"name": "again", "url": BJ_DEFAULT + "/api/v1"})
    assert response.status_code == 400
    assert "already registered as 'bj private'" in response.json()["errors"]["url"][0]
    # From another VPC (or with another workspace) it is another path, so it's allowed.
    assert (
        register(
            api_client, world, {"name": "cen", "vpc": "vpc-sg0001", "endpoint_vpc": "vpc-bj0001"}
        ).status_code
        == 201
    )


def test_every_invalid_rule_is_reported_at_once(world, api_client):
    response = register(
        api_client,
        world,
        {"url": BJ_DEFAULT.replace("http:", "https:"), "interval_s": 3, "workspace": "sg-main"},
    )
    errors = response.json()["errors"]
    assert {"url", "interval_s", "workspace"} <= set(errors)


def test_the_style_follows_the_pasted_path(world, api_client):
    body = register(
        api_client, world, {"url": BJ_DEFAULT + "/api/v1/services/aigc/text-generation/generation"}
    ).json()
    assert body["api_style"] == "dashscope"
    assert body["url"] == BJ_DEFAULT
    assert body["base_url"] == BJ_DEFAULT + "/api/v1"


def test_patch_applies_the_same_rules(world, api_client):
    endpoint_id = register(api_client, world, {}).json()["id"]
    api = api_client(world)
    response = api.patch(
        f"/api/v1/endpoints/{endpoint_id}",
        json.dumps({"url": BJ_DEFAULT.replace("http:", "https:")}),
    )
    assert (
        response.status_code == 400 and "supports HTTP only" in response.json()["errors"]["url"][0]
    )
    assert Endpoint.objects.get(pk=endpoint_id).url == BJ_DEFAULT
    response = api.patch(f"/api/v1/endpoints/{endpoint_id}", json.dumps({"interval_s": 300}))
    assert response.status_code == 200 and response.json()["interval_s"] == 300


def test_endpoints_are_listed_with_filters(world, api_client):
    register(api_client, world, {})
    register(
        api_client,
        world,
        public(
            "https://dashscope-intl.aliyuncs.com", "sg-main", "ap-southeast-1", name="sg public"
        ),
    )
    api = api_client(world)
    assert [e["name"] for e in api.get("/api/v1/endpoints", region="ap-southeast-1").json()] == [
        "sg public"
    ]
    assert [e["name"] for e in api.get("/api/v1/endpoints", kind="privatelink_default").json()] == [
        "bj private"
    ]
    assert [e["name"] for e in api.get("/api/v1/endpoints", vpc="vpc-bj0001").json()] == [
        "bj private"
    ]
    assert len(api.get("/api/v1/endpoints", status="unknown").json()) == 2
    assert api.get("/api/v1/endpoints", status="down").json() == []


def test_vpcs_are_registered_with_their_connections(world, api_client):
    api = api_client(world)
    payload = {
        "vpc_id": "vpc-new0001",
        "name": "new",
        "region": "cn-beijing",
        "cidr": "10.9.0.0/16",
        "resolver": "100.100.2.136",
        "host_overrides": {
            "vpc-cn-beijing.dashscope.aliyuncs.com": "ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com"
        },
        "connected_vpcs": ["vpc-bj0001"],
    }
    response = api.post("/api/v1/vpcs", json.dumps(payload))
    assert response.status_code == 201, response.json()
    assert response.json()["connected_vpcs"] == ["vpc-bj0001"]
    vpc_ids = [v["vpc_id"] for v in api.get("/api/v1/vpcs").json()]
    assert "vpc-new0001" in vpc_ids


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"cidr": "10.1.0.0/24", "connected_vpcs": ["vpc-bj0001"]}, "connected_vpcs", "overlap"),
        ({"cidr": "10.9.0.5/16"}, "cidr", "did you mean 10.9.0.0/16"),
        ({"cidr": "8.8.0.0/16"}, "cidr", "not a private range"),
        ({"resolver": "dns.internal"}, "resolver", "is not an IP address"),
        ({"resolver": "100.100.2.136:abc"}, "resolver", "not a port"),
        (
            {
                "host_overrides": {
                    "test_for_dns.dashscope.aliyuncs.com": "ep-x.privatelink.aliyuncs.com"
                }
            },
            "host_overrides",
            "underscore",
        ),
        ({"vpc_id": "VPC_1"}, "vpc_id", "looks like vpc-"),
        ({"connected_vpcs": ["vpc-ghost01"]}, "connected_vpcs", "Unknown VPC"),
    ],
)
def test_bad_vpcs_are_refused(world, api_client, changes, field, words):
    payload = {
        "vpc_id": "vpc-new0001",
        "name": "new",
        "region": "cn-beijing",
        "cidr": "10.9.0.0/16",
        **changes,
    }
    response = api_client(world).post("/api/v1/vpcs", json.dumps(payload))
    assert response.status_code == 400
    assert any(words in m for m in response.json()["errors"][field]), response.json()
    assert not Vpc.objects.filter(vpc_id=payload["vpc_id"]).exists()


def test_replacing_an_eas_token_revokes_the_old_one_and_a_kind_change_drops_it(world, api_client):
    from portal.workspaces.models import EasToken

    api = api_client(world)
    created = api.post(
        "/api/v1/endpoints",
        json.dumps(
            {
                **BASE,
                **eas(
                    "eas_public",
                    "http://1684.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/test",
                    "cn-hangzhou",
                    None,
                ),
                "name": "eas",
            }
        ),
    ).json()
    first = Endpoint.objects.get(pk=created["id"]).eas_token
    response = api.patch(
        f"/api/v1/endpoints/{created['id']}", json.dumps({"eas_token": "bmV3LXRva2VuLXZhbHVl"})
    )
    assert response.status_code == 200
    second = Endpoint.objects.get(pk=created["id"]).eas_token
    assert second.pk != first.pk and EasToken.objects.get(pk=first.pk).revoked_at is not None
    response = api.patch(
        f"/api/v1/endpoints/{created['id']}",
        json.dumps(
            {
                "kind": "public",
                "url": "https://dashscope.aliyuncs.com",
                "region": "cn-beijing",
                "workspace": "bj-main",
                "api_style": "openai",
            }
        ),
    )
    assert response.status_code == 200, response.json()
    assert response.json()["eas_token"] is None


def test_a_key_with_non_ascii_characters_is_refused(world, api_client):
    response = api_client(world).post(
        "/api/v1/workspaces/bj-main/keys", json.dumps({"label": "k", "secret": "sk-clé" + "a" * 29})
    )
    assert response.status_code == 400 and "non-ASCII" in response.json()["errors"]["secret"][0]
