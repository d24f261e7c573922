"""The HTTP exchange: the cheapest authenticated request of a style, sent with h11 on the very
connection whose phases were timed; and the optional billed 1-token call."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass
from functools import cached_property

import h11

from .codes import EAS_KINDS, ApiStyle, Phase
from .routes import STYLES, Check
from .targets import ProbeTarget
from .transport import TimedStreamReader, abort, elapsed_ms, ssl_context

USER_AGENT = "access-portal-probe/1.0"


MAX_BODY_BYTES = 256 * 1024


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes
    processing_ms: float
    transfer_ms: float

    def json(self) -> dict | None:
        return self._json

    @cached_property
    def _json(self) -> dict | None:  # parsed once, for the properties below and the callers
        try:
            data = json.loads(self.body or b"null")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id") or (self.json() or {}).get("request_id")

    @property
    def error_code(self) -> str:
        data = self.json() or {}
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("code") or error.get("type") or "")
        return str(data.get("code") or "")

    @property
    def error_message(self) -> str:
        data = self.json() or {}
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        return str(data.get("message") or "")


def build_request(target: ProbeTarget, base_path: str, billed: bool = False) -> Check:
    """The cheapest authenticated request of the endpoint's style (or the 1-token call)."""
    return STYLES[target.api_style].cheapest_check(target.check_model, base_path, billed)


def _auth_headers(target: ProbeTarget) -> list[tuple[str, str]]:
    if not target.secret:
        return []
    if target.kind in EAS_KINDS:
        return [("Authorization", target.secret)]  # PAI-EAS: the raw token, no "Bearer"
    headers = [("Authorization", f"Bearer {target.secret}")]
    if target.api_style == ApiStyle.ANTHROPIC:
        headers += [("x-api-key", target.secret), ("anthropic-version", "2023-06-01")]
    return headers


async def exchange(
    reader, writer, host_header: str, request: Check, target: ProbeTarget, timings: dict
):
    """Send one request on an open connection; time to first byte and transfer."""
    conn = h11.Connection(h11.CLIENT)
    body = json.dumps(request.body).encode() if request.body is not None else b""
    headers = [
        ("Host", host_header),
        ("User-Agent", USER_AGENT),
        ("Accept", "application/json"),
        ("Connection", "close"),
        *_auth_headers(target),
    ]
    if request.body is not None:
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    data = conn.send(h11.Request(method=request.method, target=request.path, headers=headers))
    if body:
        data += conn.send(h11.Data(data=body))
    data += conn.send(h11.EndOfMessage())
    if isinstance(reader, TimedStreamReader):
        reader.received_at = None  # only what arrives from now on is the answer
    writer.write(data)
    await writer.drain()
    sent = time.perf_counter()
    timings["phase"] = Phase.PROCESSING
    first_byte = None
    response = None
    chunks: list[bytes] = []
    size = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            chunk = await reader.read(65536)
            if first_byte is None:
                first_byte = time.perf_counter()
                # When the first byte arrived (not when this coroutine resumed), never
                # before the request was written.
                received_at = getattr(reader, "received_at", None)
                if received_at is not None:
                    first_byte = max(sent, min(received_at, first_byte))
                timings["phase"] = Phase.TRANSFER
            conn.receive_data(chunk)
            continue
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            if size < MAX_BODY_BYTES:
                chunks.append(event.data)
            size += len(event.data)
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    end = time.perf_counter()
    return HttpResult(
        status=response.status_code,
        headers={k.decode().lower(): v.decode(errors="replace") for k, v in response.headers},
        body=b"".join(chunks),
        processing_ms=elapsed_ms(sent, first_byte),
        transfer_ms=elapsed_ms(first_byte, end),
    )


async def model_call(target, address, port, parsed, host_header, base_path) -> dict | None:
    """The optional billed check: a 1-token completion, returning its token usage."""
    try:
        async with asyncio.timeout(min(target.connect_timeout_s, target.timeout_s / 2)):
            return await _billed_call(target, address, port, parsed, host_header, base_path)
    except TimeoutError:
        return None


async def _billed_call(target, address, port, parsed, host_header, base_path) -> dict | None:
    try:
        reader, writer = await asyncio.open_connection(address, port)
        try:
            if parsed.scheme == "https":
                await writer.start_tls(ssl_context(target.ca_file), server_hostname=parsed.host)
            request = build_request(target, base_path, billed=True)
            result = await exchange(reader, writer, host_header, request, target, {})
        finally:
            abort(writer)
    except (OSError, ssl.SSLError, h11.ProtocolError):
        return None
    data = result.json() or {}
    usage = data.get("usage") or {}
    if result.status != 200 or not usage:
        return None
    return {
        "model": target.check_model,
        "input_tokens": int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0),
        "output_tokens": int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0),
    }
