"""The API the simulator answers, as plain functions: a parsed request in, a response out.

Model Studio's OpenAI-compatible, DashScope native and Anthropic-compatible routes, and
PAI-EAS services. Shapes, codes and messages follow docs/domain.md ("Wire facts").
"""

import functools
import json
import time
import uuid
from dataclasses import dataclass, replace

from endpoints.engine.codes import ApiStyle
from endpoints.engine.hosts import classify_host
from endpoints.engine.routes import EAS_SERVICE_PREFIX, STYLES, model_studio_routes

from .state import Fault, SimState, SimWorkspace, World, digest

SSE = "text/event-stream;charset=UTF-8"
REPLY_WORDS = ["Hello", "from", "the", "Model", "Studio", "simulator", "on", "loopback."]
MODEL_CREATED = 1_700_000_000  # a fixed `created` for model lists
ANTHROPIC_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}
ANTHROPIC_TYPES |= {429: "rate_limit_error", 500: "api_error", 503: "overloaded_error"}
EAS = STYLES[ApiStyle.EAS]


@dataclass
class Request:
    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-case names
    body: bytes
    host: str  # lower-case, without the port


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    request_id: str = ""
    events: list[bytes] | None = None  # server-sent events, written one by one (chunked)


@dataclass(frozen=True)
class ErrorKind:
    """One Model Studio error: status, compat code and type, native code, message(s)."""

    status: int
    compat_code: str
    compat_type: str
    native_code: str
    message: str
    compat_message: str = ""  # when the compat API words it differently
    anchor: str = ""  # the error-code page's anchor that compat messages link to


# fmt: off
INVALID_KEY = ErrorKind(401, "invalid_api_key", "invalid_request_error", "InvalidApiKey",
                        "Invalid API-key provided.", "Incorrect API key provided.", "apikey-error")
ARREARAGE = ErrorKind(400, "Arrearage", "Arrearage", "Arrearage", "Access denied, please make "
                      "sure your account is in good standing.", anchor="overdue-payment")
WORKSPACE_DENIED = ErrorKind(403, "Workspace.AccessDenied", "Workspace.AccessDenied",
                             "Workspace.AccessDenied", "Workspace access denied.")
MODEL_DENIED = ErrorKind(403, "Model.AccessDenied", "Model.AccessDenied", "Model.AccessDenied",
                         "Model access denied.")
MODEL_NOT_FOUND = ErrorKind(404, "model_not_found", "invalid_request_error", "ModelNotFound",
                            "Model can not be found.", "Model not exist.")
THROTTLED = ErrorKind(429, "limit_requests", "limit_requests", "Throttling.RateQuota",
                      "Requests rate limit exceeded, please try again later.",
                      "You have exceeded your current request limit.", "rate-limit")
# Seen verbatim from the compat API: code invalid_parameter_error, message "<400> Internal...".
INVALID_PARAMETER = ErrorKind(400, "invalid_parameter_error", "invalid_request_error",
                              "InvalidParameter", "<400> InternalError.Algo.InvalidParameter: {}")
INTERNAL_ERROR = ErrorKind(500, "internal_error", "internal_error", "InternalError", "An internal "
                           "error has occured, please try again later or contact service support.")
MODEL_UNAVAILABLE = ErrorKind(503, "ModelUnavailable", "ModelUnavailable", "ModelUnavailable",
                              "Model is unavailable, please try again later.")
# fmt: on
STATUS_ERRORS = {429: THROTTLED, 500: INTERNAL_ERROR, 503: MODEL_UNAVAILABLE}


class ApiError(Exception):
    def __init__(self, kind: ErrorKind, detail: str = ""):
        super().__init__(kind.native_code)
        self.kind, self.detail = kind, detail


@dataclass
class Caller:
    """Who is calling: the key's workspace and the Model Studio region the host serves."""

    workspace: SimWorkspace
    region: str
    world: World


def dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(status: int, obj, rid: str) -> Response:
    return Response(status, dumps(obj), request_id=rid)


@functools.lru_cache(maxsize=4096)
def host_info(host: str):
    return classify_host(host)


def wants_sse(req: Request) -> bool:
    sse_header = req.headers.get("x-dashscope-sse", "").lower() == "enable"
    return sse_header or "text/event-stream" in req.headers.get("accept", "")


def error_response(err: ApiError, style: str, rid: str, region: str | None, sse=False) -> Response:
    kind = err.kind
    message = kind.message.format(err.detail)
    if style == "openai":
        compat = (kind.compat_message or kind.message).format(err.detail)
        if kind.anchor:
            mainland = (region or "").startswith("cn-") and region != "cn-hongkong"
            site = "help.aliyun.com/zh" if mainland else "www.alibabacloud.com/help/en"
            compat += f" For details, see: https://{site}/model-studio/error-code#{kind.anchor}"
        error = {"message": compat, "type": kind.compat_type, "param": None}
        return json_response(
            kind.status, {"error": {**error, "code": kind.compat_code}, "request_id": rid}, rid
        )
    if style == "anthropic":
        error = {
            "type": ANTHROPIC_TYPES.get(kind.status, "invalid_request_error"),
            "message": message,
        }
        return json_response(kind.status, {"type": "error", "error": error, "request_id": rid}, rid)
    body = {"code": kind.native_code, "message": message, "request_id": rid}
    if sse and kind.status == 400:
        # DashScope streams report request errors inside an HTTP 200 event stream.
        event = b"id:1\nevent:error\n:HTTP_STATUS/400\ndata:%s\n\n" % dumps(body)
        return Response(200, content_type=SSE, request_id=rid, events=[event])
    return json_response(kind.status, body, rid)


# -- checks ------------------------------------------------------------------------------------


def bearer(value: str) -> str:
    return value[7:].strip() if value[:7].lower() == "bearer " else value.strip()


def authorize(req: Request, state: SimState, style: str, fault: Fault | None) -> Caller:
    """Key, region, workspace domain, arrears and rate limit, in the gateway's order."""
    world = state.world
    key = bearer(req.headers.get("authorization", ""))
    if style == "anthropic":
        key = req.headers.get("x-api-key", "").strip() or key
    key_sha256 = digest(key) if key else ""
    workspace = world.workspaces.get(world.keys.get(key_sha256, ""))
    if workspace is None:
        raise ApiError(INVALID_KEY)
    info = host_info(req.host)
    host_region = world.host_regions.get(req.host) or info.region
    if host_region and host_region != workspace.region:
        raise ApiError(INVALID_KEY)  # keys are region-bound
    if info.form == "workspace" and info.workspace_id != workspace.workspace_id:
        raise ApiError(INVALID_KEY)  # a workspace domain takes only its own workspace's keys
    named = req.headers.get("x-dashscope-workspace")
    if named and named != workspace.workspace_id:
        raise ApiError(WORKSPACE_DENIED)
    if workspace.workspace_id in world.arrears:
        raise ApiError(ARREARAGE)
    if (fault and fault.throttle) or not state.admit(key_sha256):
        raise ApiError(THROTTLED)
    return Caller(workspace, host_region or workspace.region, world)


def check_model(model, caller: Caller) -> str:
    if not model or not isinstance(model, str):
        raise ApiError(INVALID_PARAMETER, "Model not specified.")
    if model not in caller.world.catalog.get(caller.region, ()):
        raise ApiError(MODEL_NOT_FOUND)
    if not caller.workspace.is_default and model not in caller.workspace.models:
        raise ApiError(MODEL_DENIED)
    return model


def check_messages(messages) -> list:
    if not messages or not isinstance(messages, list):
        raise ApiError(INVALID_PARAMETER, "Input messages must not be empty.")
    return messages


def json_body(req: Request) -> dict:
    try:
        body = json.loads(req.body or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(INVALID_PARAMETER, "The request body is not valid JSON.")
    return body


def text_of(content) -> str:
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def count_tokens(messages: list, extra: str = "") -> int:
    """A rough count: four characters a token plus a few per message, as tokenizers do."""
    chars = len(extra) + sum(
        len(text_of(m.get("content"))) for m in messages if isinstance(m, dict)
    )
    return max(1, -(-chars // 4)) + 4 * len(messages)


def reply(max_tokens) -> list[str]:
    """The reply's pieces, one token each; at most max_tokens (default 16) of them."""
    limit = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 16
    words = REPLY_WORDS[: min(limit, len(REPLY_WORDS))]
    return [w + " " for w in words[:-1]] + words[-1:]


# -- OpenAI-compatible -------------------------------------------------------------------------


def model_list(names, rid: str) -> Response:
    data = [
        {"id": n, "object": "model", "created": MODEL_CREATED, "owned_by": "system"}
        for n in sorted(names)
    ]
    return json_response(200, {"object": "list", "data": data, "request_id": rid}, rid)


def openai_models(req, caller: Caller, rid: str) -> Response:
    return model_list(caller.world.catalog.get(caller.region, ()), rid)


def openai_chat(req, caller: Caller, rid: str) -> Response:
    body = json_body(req)
    model = check_model(body.get("model"), caller)
    return chat_completion(body, model, check_messages(body.get("messages")), rid)


def chat_completion(body: dict, model: str, messages: list, rid: str) -> Response:
    pieces = reply(body.get("max_tokens") or body.get("max_completion_tokens"))
    prompt, done = count_tokens(messages), len(pieces)
    usage = {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}
    usage["prompt_tokens_details"] = {"cached_tokens": 0}
    tail = {"system_fingerprint": None, "model": model, "id": f"chatcmpl-{rid}"}
    tail["created"] = int(time.time())

    def choice(finish, **fields):
        return {**fields, "finish_reason": finish, "index": 0, "logprobs": None}

    if not body.get("stream"):
        message = {"role": "assistant", "content": "".join(pieces)}
        out = {"choices": [choice("stop", message=message)], "object": "chat.completion"}
        return json_response(200, {**out, "usage": usage, **tail}, rid)

    def chunk(choices, usage=None):
        out = {"choices": choices, "object": "chat.completion.chunk", "usage": usage}
        return b"data: %s\n\n" % dumps({**out, **tail})

    events = [chunk([choice(None, delta={"content": "", "role": "assistant"})])]
    for i, piece in enumerate(pieces, 1):
        events.append(chunk([choice("stop" if i == done else None, delta={"content": piece})]))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append(chunk([], usage))
    events.append(b"data: [DONE]\n\n")
    return Response(200, content_type=SSE, request_id=rid, events=events)


# -- DashScope native --------------------------------------------------------------------------


def dashscope_generation(req, caller: Caller, rid: str) -> Response:
    body = json_body(req)
    check_model(body.get("model"), caller)  # the native answer does not name the model
    given = body.get("input") if isinstance(body.get("input"), dict) else {}
    messages = given.get("messages")
    if messages is None and given.get("prompt"):
        messages = [{"role": "user", "content": given["prompt"]}]
    prompt = count_tokens(check_messages(messages))
    params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    pieces = reply(params.get("max_tokens") or params.get("max_completion_tokens"))
    as_message = params.get("result_format") == "message"

    def payload(text, finish, done):
        usage = {"total_tokens": prompt + done, "output_tokens": done, "input_tokens": prompt}
        if as_message:
            message = {"role": "assistant", "content": text}
            output = {"choices": [{"finish_reason": finish, "message": message}]}
        else:
            output = {"finish_reason": finish, "text": text}
            usage["prompt_tokens_details"] = {"cached_tokens": 0}
        return {"output": output, "usage": usage, "request_id": rid}

    if not wants_sse(req):
        return json_response(200, payload("".join(pieces), "stop", len(pieces)), rid)
    incremental = bool(params.get("incremental_output"))
    datas = [
        payload(p if incremental else "".join(pieces[:i]), "null", i)
        for i, p in enumerate(pieces, 1)
    ]  # finish_reason is the string "null" until the last event
    datas.append(payload("" if incremental else "".join(pieces), "stop", len(pieces)))
    events = [
        b"id:%d\nevent:result\n:HTTP_STATUS/200\ndata:%s\n\n" % (i, dumps(d))
        for i, d in enumerate(datas, 1)
    ]
    return Response(200, content_type=SSE, request_id=rid, events=events)


# -- Anthropic-compatible ----------------------------------------------------------------------


def anthropic_messages(req, caller: Caller, rid: str) -> Response:
    body = json_body(req)
    model = check_model(body.get("model"), caller)
    messages = check_messages(body.get("messages"))
    if not isinstance(body.get("max_tokens"), int):
        raise ApiError(INVALID_PARAMETER, "max_tokens: Field required.")
    pieces = reply(body["max_tokens"])
    usage = {"input_tokens": count_tokens(messages, text_of(body.get("system")))}
    return json_response(
        200,
        {
            "id": f"msg_{rid.replace('-', '')}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "".join(pieces)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": len(pieces)},
        },
        rid,
    )


# -- PAI-EAS -----------------------------------------------------------------------------------


def eas(req: Request, state: SimState, fault: Fault | None, rid: str) -> Response:
    """A service behind the EAS gateway: raw-token auth, then an OpenAI-style LLM server."""
    name, _, rest = req.path.removeprefix(EAS_SERVICE_PREFIX).partition("/")
    service = state.world.eas_services.get(name)
    token = bearer(req.headers.get("authorization", ""))
    if service is None:
        status, code, message = 404, "NotFound", f"Service {name} not found."
    elif not token or not service.accepts(token):
        status, code, message = 401, "Unauthorized", "The token is missing or invalid."
    elif fault and fault.throttle:
        status, code, message = 429, "TooManyRequests", "The service's QPS limit is exceeded."
    elif (req.method, "/" + rest) == ("GET", EAS.models):
        return model_list([service.model], rid)
    elif (req.method, "/" + rest) == ("POST", EAS.chat):
        try:
            body = json_body(req)
            messages = check_messages(body.get("messages"))
        except ApiError as err:
            return error_response(err, "openai", rid, None)
        return chat_completion(body, body.get("model") or service.model, messages, rid)
    else:
        return json_response(404, {"detail": "Not Found"}, rid)  # the model server's own 404
    return json_response(status, {"code": code, "message": message, "request_id": rid}, rid)


# Every Model Studio route of the one routes table, answered by its style's handler.
HANDLERS = {
    ("openai", "GET"): openai_models,
    ("openai", "POST"): openai_chat,
    ("dashscope", "POST"): dashscope_generation,
    ("anthropic", "POST"): anthropic_messages,
}
ROUTES = {
    (method, path): (str(style), HANDLERS[(str(style), method)])
    for (method, path), style in model_studio_routes().items()
}


def handle(req: Request, state: SimState, fault: Fault | None = None) -> Response:
    """Answer one request the way Model Studio (or the EAS gateway) would."""
    rid = str(uuid.uuid4())
    is_eas = req.path.startswith(EAS_SERVICE_PREFIX)
    style, answer = ROUTES.get((req.method, req.path), ("eas" if is_eas else "dashscope", None))
    region = state.world.host_regions.get(req.host) or host_info(req.host).region
    if fault and fault.status:  # the body the real service sends with that status
        kind = STATUS_ERRORS.get(fault.status) or replace(INTERNAL_ERROR, status=fault.status)
        return error_response(ApiError(kind), style, rid, region)
    if is_eas:
        return eas(req, state, fault, rid)
    if answer is None:
        return Response(404, content_type=None, request_id=rid)  # the gateway's empty 404
    try:
        return answer(req, authorize(req, state, style, fault), rid)
    except ApiError as err:
        return error_response(err, style, rid, region, sse=style == "dashscope" and wants_sse(req))
