"""The "paste a URL" box understands every URL form shown in the seed documents.

The table holds each form as it appears in ../shared/seeds/ (masked IDs and
placeholders included), as a bare URL, inside a curl line, or inside SDK code, and
what the box should fill in. The seeds are copied here because CI runs on a clean clone.
"""

import pytest

from endpoints.engine.hosts import find_url, parse_url

# (text as in the seeds, kind, region, api style, normalised base URL)
SEED_FORMS = [
    (
        "http://ep-***.dashscope.cn-beijing.privatelink.aliyuncs.com/compatible-mode/v1/chat/completions",
        "privatelink_default",
        "cn-beijing",
        "openai",
        "http://ep-***.dashscope.cn-beijing.privatelink.aliyuncs.com",
    ),
    (
        "http://ep-***.dashscope.cn-beijing.privatelink.aliyuncs.com/api/v1",
        "privatelink_default",
        "cn-beijing",
        "dashscope",
        "http://ep-***.dashscope.cn-beijing.privatelink.aliyuncs.com",
    ),
    (
        "http://ep-2zei6917b47eed******.dashscope.cn-beijing.privatelink.aliyuncs.com/compatible-mode/v1",
        "privatelink_default",
        "cn-beijing",
        "openai",
        None,
    ),
    (
        "ep-{InstanceId}.privatelink.aliyuncs.com",
        "privatelink_default",
        None,
        None,
        "http://ep-{instanceid}.privatelink.aliyuncs.com",
    ),
    (
        "https://vpc-cn-beijing.dashscope.aliyuncs.com/compatible-mode/v1/chat/completions",
        "privatelink_custom",
        "cn-beijing",
        "openai",
        "https://vpc-cn-beijing.dashscope.aliyuncs.com",
    ),
    ("vpc-{InstanceId}.{RegionId}.dashscope.aliyuncs.com", "privatelink_custom", None, None, None),
    (
        "http://ep-zm0i0c6d276715******.epsrv-zm0qfzkk1lcxfr3efci8.cn-shanghai-finance-1.privatelink.aliyuncs.com"
        "/api/v1/services/aigc/text-generation/generation",
        "finance_privatelink",
        "cn-shanghai-finance-1",
        "dashscope",
        None,
    ),
    (
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "public",
        "cn-beijing",
        "openai",
        "https://dashscope.aliyuncs.com",
    ),
    (
        "https://dashscope.aliyuncs.com/api/v1/services/aigc/multimodal-generation/generation",
        "public",
        "cn-beijing",
        "dashscope",
        "https://dashscope.aliyuncs.com",
    ),
    (
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/",
        "public",
        "ap-southeast-1",
        "openai",
        None,
    ),
    (
        "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/text-generation/generation",
        "public",
        "ap-southeast-1",
        "dashscope",
        None,
    ),
    ("https://dashscope-us.aliyuncs.com/apps/anthropic", "public", "us-east-1", "anthropic", None),
    ("https://dashscope-us.aliyuncs.com/compatible-mode/v1", "public", "us-east-1", "openai", None),
    (
        "https://{WorkspaceId}.cn-beijing.maas.aliyuncs.com/compatible-mode/v1",
        "public",
        "cn-beijing",
        "openai",
        None,
    ),
    (
        "https://{WorkspaceId}.ap-southeast-1.maas.aliyuncs.com/apps/anthropic",
        "public",
        "ap-southeast-1",
        "anthropic",
        None,
    ),
    (
        "https://{WorkspaceId}.eu-central-1.maas.aliyuncs.com/api/v1",
        "public",
        "eu-central-1",
        "dashscope",
        None,
    ),
    (
        "https://test-for-dns-right.dashscope.aliyuncs.com/compatible-mode/v1/chat/completions",
        "privatelink_custom",
        None,
        "openai",
        "https://test-for-dns-right.dashscope.aliyuncs.com",
    ),
    (
        "https://test_for_dns_wrong.dashscope.aliyuncs.com/api/v1",
        "privatelink_custom",
        None,
        "dashscope",
        None,
    ),
    (
        "http://16********.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/test/v1/chat/completions",
        "eas_public",
        "cn-hangzhou",
        "eas",
        "http://16********.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/test",
    ),
    (
        "http://<uid>.vpc.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/<service>",
        "eas_vpc",
        "cn-hangzhou",
        "eas",
        None,
    ),
    (
        "ep-{InstanceId}.dashscope.{region}.privatelink.aliyuncs.com",
        "privatelink_default",
        None,
        None,
        None,
    ),
    (
        "https://{WorkspaceId}.{region}.maas.aliyuncs.com/compatible-mode/v1",
        "public",
        None,
        "openai",
        None,
    ),
    (
        "http://gw-123abc.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/svc/v1/chat/completions",
        "eas_public",
        "cn-hangzhou",
        "eas",
        "http://gw-123abc.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/svc",
    ),
]

WRAPPERS = [
    ("bare", "{}"),
    (
        "curl",
        'curl -X POST {} \\\n-H "Authorization: Bearer $DASHSCOPE_API_KEY" \\\n-H "Content-Type: application/json"',
    ),
    (
        "openai sdk",
        'client = OpenAI(\n    api_key=os.getenv("DASHSCOPE_API_KEY"),\n    base_url="{}",\n)',
    ),
    ("dashscope sdk", "dashscope.base_http_api_url = '{}'"),
    ("chinese sentence", "将POST {}中的dashscope.aliyuncs.com替换为已经获取的默认服务域名"),
]


@pytest.mark.parametrize(("wrapper", "template"), WRAPPERS, ids=[w[0] for w in WRAPPERS])
@pytest.mark.parametrize(
    ("text", "kind", "region", "style", "base"), SEED_FORMS, ids=[f[0][:70] for f in SEED_FORMS]
)
def test_the_box_reads_every_seed_form(text, kind, region, style, base, wrapper, template):
    if "://" not in text and wrapper == "chinese sentence":
        pytest.skip("bare hosts appear only in English prose")
    found = find_url(template.format(text))
    assert found is not None
    parsed = parse_url(found)
    assert parsed.kind == kind
    assert parsed.region == region
    assert parsed.api_style == style
    if base:
        assert parsed.url == base


def test_masked_ids_and_underscores_are_flagged_in_the_form(client_for, admin):
    client = client_for(admin)
    html = client.post(
        "/endpoints/parse-url/",
        {
            "paste": "curl -X POST http://ep-***.dashscope.cn-beijing.privatelink.aliyuncs.com/api/v1/services/aigc/text-generation/generation"
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "placeholder" in html
    assert 'value="privatelink_default" checked' in html
    assert 'value="http://ep-***.dashscope.cn-beijing.privatelink.aliyuncs.com"' in html
    assert '<option value="dashscope" selected>' in html
    html = client.post(
        "/endpoints/parse-url/",
        {"paste": "https://test_for_dns_wrong.dashscope.aliyuncs.com/api/v1"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "test-for-dns-wrong.dashscope.aliyuncs.com" in html


def test_pasting_nothing_useful_says_so(client_for, admin):
    html = (
        client_for(admin)
        .post("/endpoints/parse-url/", {"paste": "hello"}, HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert "No http(s) URL" in html
