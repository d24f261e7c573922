"""The one table of routes: what each style's check sends and where a pasted path belongs."""

import pytest

from endpoints.engine.codes import ApiStyle
from endpoints.engine.hosts import base_url, parse_url
from endpoints.engine.routes import STYLES, model_studio_routes, style_from_path


@pytest.mark.parametrize("style", list(ApiStyle))
def test_each_styles_checks_are_routes_of_the_table(style):
    routes = STYLES[style]
    base = "/api/predict/svc" if style == ApiStyle.EAS else ""
    for model in (None, "qwen-plus"):
        for billed in (False, True):
            if billed and not model:
                continue
            check = routes.cheapest_check(model, base, billed)
            path = check.path.removeprefix(base)
            known = {r for (_, r) in model_studio_routes()} | {routes.chat, routes.models}
            assert path in known, (style, model, billed, check)
            assert check.validation == (bool(model) and not billed and style != ApiStyle.EAS)


@pytest.mark.parametrize(
    ("path", "style"),
    [
        ("/compatible-mode/v1/chat/completions", ApiStyle.OPENAI),
        ("/api/v1/services/aigc/multimodal-generation/generation", ApiStyle.DASHSCOPE),
        ("/apps/anthropic/v1/messages", ApiStyle.ANTHROPIC),
        ("/api/predict/my_service/v1/chat/completions", ApiStyle.EAS),
        ("/something/else", None),
    ],
)
def test_a_path_tells_its_style(path, style):
    assert style_from_path(path) == style


def test_the_sdk_base_url_is_the_host_plus_the_styles_base_path():
    origin = parse_url("https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions").url
    assert base_url(origin, ApiStyle.OPENAI) == "https://dashscope.aliyuncs.com/compatible-mode/v1"
    assert base_url(origin, ApiStyle.DASHSCOPE) == "https://dashscope.aliyuncs.com/api/v1"
    service = "http://1.cn-hangzhou.pai-eas.aliyuncs.com/api/predict/svc"
    assert base_url(service, ApiStyle.EAS) == service
