"""The one table of Model Studio and PAI-EAS routes, per API style.

Used by the probe engine (which request is the cheapest check), the snippets (the SDK base
URL and the chat route), the URL parser (which style a path belongs to) and the simulator
(which routes it answers). Sources: docs/domain.md, "Request shapes".

For Model Studio every path is absolute on the host; for PAI-EAS the paths are relative to
the service's URL (`…/api/predict/{service}`), since each service mounts its own server.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codes import ApiStyle

EAS_SERVICE_PREFIX = "/api/predict/"
CHECK_CONTENT = "ping"


@dataclass(frozen=True)
class Check:
    """One request a probe sends. `validation`: built to be refused before billing (an empty
    `messages`), so a 400 in Model Studio's error shape proves key and permission."""

    method: str
    path: str
    body: dict | None = None
    validation: bool = False


@dataclass(frozen=True)
class StyleRoutes:
    """Where one API style lives and how it is checked."""

    style: ApiStyle
    base_path: str  # appended to the host for an SDK's base URL ("" for EAS: the service URL)
    prefix: str  # every path of this style starts so (how a pasted URL's style is told)
    chat: str  # the chat / generation route
    models: str | None = None  # a model list, where the style has one (no model needed)
    other: tuple[str, ...] = ()  # further POST routes served like `chat`

    def chat_body(self, model: str, messages: list, max_tokens: int | None = 1) -> dict:
        """The request body of this style's chat route."""
        if self.style == ApiStyle.DASHSCOPE:
            parameters = {"result_format": "message"}
            if max_tokens is not None:
                parameters["max_tokens"] = max_tokens
            return {"model": model, "input": {"messages": messages}, "parameters": parameters}
        body = {"model": model, "messages": messages}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return body

    def cheapest_check(self, model: str | None, base: str = "", billed: bool = False) -> Check:
        """The cheapest authenticated request: a model list, or a chat request refused before
        billing that still proves the key and the permission to call `model`. `billed`: the
        1-token completion instead. `base`: the EAS service path the routes hang under."""
        messages = [{"role": "user", "content": CHECK_CONTENT}] if billed else []
        if self.style == ApiStyle.EAS:
            if billed:
                return Check("POST", base + self.chat, self.chat_body(model or "default", messages))
            return Check("GET", base + self.models)
        if model:
            return Check("POST", self.chat, self.chat_body(model, messages), validation=not billed)
        # Styles without a model list fall back to the OpenAI-compatible one of the same host.
        return Check("GET", self.models or STYLES[ApiStyle.OPENAI].models)


STYLES: dict[ApiStyle, StyleRoutes] = {
    ApiStyle.OPENAI: StyleRoutes(
        ApiStyle.OPENAI,
        base_path="/compatible-mode/v1",
        prefix="/compatible-mode",
        chat="/compatible-mode/v1/chat/completions",
        models="/compatible-mode/v1/models",
    ),
    ApiStyle.DASHSCOPE: StyleRoutes(
        ApiStyle.DASHSCOPE,
        base_path="/api/v1",
        prefix="/api/v1",
        chat="/api/v1/services/aigc/text-generation/generation",
        other=("/api/v1/services/aigc/multimodal-generation/generation",),
    ),
    ApiStyle.ANTHROPIC: StyleRoutes(
        ApiStyle.ANTHROPIC,
        base_path="/apps/anthropic",
        prefix="/apps/anthropic",
        chat="/apps/anthropic/v1/messages",
    ),
    ApiStyle.EAS: StyleRoutes(
        ApiStyle.EAS,
        base_path="",
        prefix=EAS_SERVICE_PREFIX,
        chat="/v1/chat/completions",
        models="/v1/models",
    ),
}


def style_from_path(path: str) -> ApiStyle | None:
    """Which API style a URL path belongs to (a base URL or a full request path)."""
    path = path or ""
    for routes in STYLES.values():
        if path.startswith(routes.prefix):
            return routes.style
    return None


def model_studio_routes() -> dict[tuple[str, str], ApiStyle]:
    """(method, absolute path) → style, for every Model Studio route (not EAS)."""
    table: dict[tuple[str, str], ApiStyle] = {}
    for style, routes in STYLES.items():
        if style == ApiStyle.EAS:
            continue
        if routes.models:
            table[("GET", routes.models)] = style
        for path in (routes.chat, *routes.other):
            table[("POST", path)] = style
    return table
