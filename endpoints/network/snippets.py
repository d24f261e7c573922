"""Ready-to-paste code for an endpoint: curl, the OpenAI SDK and the DashScope SDK.

The key always comes from the environment (DASHSCOPE_API_KEY, or EAS_TOKEN for PAI-EAS),
never from the portal: snippets are safe to share.
"""

import json

from endpoints.engine.hosts import base_url
from endpoints.engine.routes import STYLES

from .choices import ApiStyle

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Who are you?"},
]


def _model_for(endpoint) -> str:
    if endpoint.check_model_id:
        return endpoint.check_model.name
    if endpoint.workspace_id:
        names = list(
            endpoint.workspace.callable_models().order_by("name").values_list("name", flat=True)
        )
        if names:  # the docs' example model when the workspace may call it
            return "qwen-plus" if "qwen-plus" in names else names[0]
    return "qwen-plus"


def _json(data) -> str:
    return json.dumps(data, indent=4, ensure_ascii=False)


def _curl(url: str, headers: list[str], body: dict) -> str:
    lines = [f"curl -X POST {url} \\"]
    lines += [f'  -H "{h}" \\' for h in headers]
    lines.append(f"  -d '{_json(body)}'")
    return "\n".join(lines)


def snippets_for(endpoint) -> dict[str, str]:
    style = endpoint.api_style
    origin = endpoint.url.rstrip("/")
    if style == ApiStyle.EAS:
        return _eas_snippets(origin)
    model = _model_for(endpoint)
    auth = "Authorization: Bearer $DASHSCOPE_API_KEY"
    if style == ApiStyle.DASHSCOPE:
        curl = _curl(
            f"{origin}{STYLES[ApiStyle.DASHSCOPE].chat}",
            [auth, "Content-Type: application/json"],
            {
                "model": model,
                "input": {"messages": MESSAGES},
                "parameters": {"result_format": "message"},
            },
        )
    elif style == ApiStyle.ANTHROPIC:
        curl = _curl(
            f"{origin}{STYLES[ApiStyle.ANTHROPIC].chat}",
            [
                "x-api-key: $DASHSCOPE_API_KEY",
                "anthropic-version: 2023-06-01",
                "Content-Type: application/json",
            ],
            {"model": model, "max_tokens": 1024, "messages": MESSAGES[1:]},
        )
    else:
        curl = _curl(
            f"{origin}{STYLES[ApiStyle.OPENAI].chat}",
            [auth, "Content-Type: application/json"],
            {"model": model, "messages": MESSAGES},
        )
    snippets = {
        "curl": curl,
        "openai_python": f'''import os
from openai import OpenAI

client = OpenAI(
    api_key=os.getenv("DASHSCOPE_API_KEY"),
    base_url="{base_url(origin, ApiStyle.OPENAI)}",
)
completion = client.chat.completions.create(
    model="{model}",
    messages=[
        {{"role": "system", "content": "You are a helpful assistant."}},
        {{"role": "user", "content": "Who are you?"}},
    ],
)
print(completion.model_dump_json())
''',
        "dashscope_python": f'''import os
from http import HTTPStatus

import dashscope
from dashscope import Generation

dashscope.base_http_api_url = "{base_url(origin, ApiStyle.DASHSCOPE)}"
response = Generation.call(
    api_key=os.getenv("DASHSCOPE_API_KEY"),
    model="{model}",
    messages=[{{"role": "user", "content": "Who are you?"}}],
    result_format="message",
)
if response.status_code == HTTPStatus.OK:
    print(response.output.choices[0].message.content)
else:
    print(response.request_id, response.status_code, response.code, response.message)
''',
    }
    if style == ApiStyle.ANTHROPIC:
        snippets["anthropic_python"] = f'''import os

import anthropic

client = anthropic.Anthropic(
    api_key=os.getenv("DASHSCOPE_API_KEY"),
    base_url="{base_url(origin, ApiStyle.ANTHROPIC)}",
)
message = client.messages.create(
    model="{model}",
    max_tokens=1024,
    messages=[{{"role": "user", "content": "Who are you?"}}],
)
print(message.content[0].text)
'''
    return snippets


def _eas_snippets(service_url: str) -> dict[str, str]:
    body = {"model": "<model name of the service>", "messages": MESSAGES}
    eas_chat = STYLES[ApiStyle.EAS].chat
    eas_base = eas_chat.removesuffix("/chat/completions")
    return {
        "curl": _curl(
            f"{service_url}{STYLES[ApiStyle.EAS].chat}",
            ["Authorization: $EAS_TOKEN", "Content-Type: application/json"],
            body,
        ),
        "openai_python": f'''import os
from openai import OpenAI

# OpenAI-compatible services (e.g. vLLM) on PAI-EAS; the EAS token is the key.
client = OpenAI(api_key=os.getenv("EAS_TOKEN"), base_url="{service_url}{eas_base}")
completion = client.chat.completions.create(
    model="<model name of the service>",
    messages=[{{"role": "user", "content": "Who are you?"}}],
)
print(completion.model_dump_json())
''',
        "dashscope_python": f'''# The DashScope SDK calls Model Studio, not PAI-EAS services.
# Call the service over HTTP; the raw EAS token goes in Authorization (no "Bearer").
import os

import requests

response = requests.post(
    "{service_url}{eas_chat}",
    headers={{"Authorization": os.getenv("EAS_TOKEN")}},
    json={{"model": "<model name of the service>", "messages": [{{"role": "user", "content": "Who are you?"}}]}},
    timeout=60,
)
print(response.status_code, response.text)
''',
    }
