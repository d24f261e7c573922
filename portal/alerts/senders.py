"""How each kind of channel is spoken to (docs/alerts.md has the sources).

`build(channel, payload)` → a `Request` (method, URL, headers, body) for the HTTP kinds;
`send(channel, payload)` sends it (or the e-mail) and raises `Transient` (retry later) or
`Permanent` (the channel is misconfigured: stop and say so on its page). The signing secret
and the tokenised URL are decrypted here, at the moment of use, and never logged.
"""

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlsplit

import httpx
from django.conf import settings
from django.core.mail import send_mail

from .models import Kind

SIGNATURE_HEADER = "X-Portal-Signature"
# Vendor error codes that mean "later", not "never" (rate limits); others are permanent.
RETRYABLE_CODES = {130101, 45009, 9499, 11232}


class Transient(Exception):
    """Try again later (network error, timeout, 5xx, 429, a rate-limit code)."""


class Permanent(Exception):
    """Retrying will not help (4xx, a signature or token the vendor refuses)."""


@dataclass
class Request:
    url: str
    body: bytes
    headers: dict = field(default_factory=dict)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk custom robot, "加签": urlencode(base64(HMAC-SHA256(secret, f"{ts}\\n{secret}")))."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark custom bot: base64(HMAC-SHA256(key=f"{ts}\\n{secret}", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _json(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def text_of(payload: dict) -> str:
    lines = [payload.get("title", "Access Portal")]
    lines += [f"{k}: {v}" for k, v in payload.get("fields", {}).items() if v not in (None, "")]
    if payload.get("url"):
        lines.append(payload["url"])
    return "\n".join(lines)


def markdown_of(payload: dict) -> str:
    lines = [f"### {payload.get('title', 'Access Portal')}"]
    lines += [
        f"- **{k}**: {v}" for k, v in payload.get("fields", {}).items() if v not in (None, "")
    ]
    if payload.get("url"):
        lines.append(f"[Open in the portal]({payload['url']})")
    return "\n".join(lines)


def build(channel, payload: dict, *, now: float | None = None) -> Request:
    now = time.time() if now is None else now
    target, secret = channel.reveal_target(), channel.reveal_secret()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if channel.kind == Kind.WEBHOOK:
        body = _json(payload.get("data", payload))
        if secret:
            headers[SIGNATURE_HEADER] = webhook_signature(secret, body)
        return Request(target, body, headers)
    if channel.kind == Kind.DINGTALK:
        url = target
        if secret:
            ts = int(now * 1000)
            url += ("&" if urlsplit(target).query else "?") + (
                f"timestamp={ts}&sign={dingtalk_sign(secret, ts)}"
            )
        body = _json(
            {
                "msgtype": "markdown",
                "markdown": {"title": payload.get("title", "")[:100], "text": markdown_of(payload)},
            }
        )
        return Request(url, body, headers)
    if channel.kind == Kind.FEISHU:
        data: dict = {"msg_type": "text", "content": {"text": text_of(payload)}}
        if secret:
            ts = int(now)
            data = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **data}
        return Request(target, _json(data), headers)
    if channel.kind == Kind.WECOM:
        body = _json({"msgtype": "markdown", "markdown": {"content": markdown_of(payload)}})
        return Request(target, body, headers)
    if channel.kind == Kind.SLACK:
        return Request(target, _json({"text": text_of(payload)}), headers)
    raise Permanent(f"Unknown channel kind {channel.kind!r}.")


def _check_vendor_answer(channel, response: httpx.Response) -> None:
    """DingTalk, Feishu and WeCom answer HTTP 200 with an error code in the body."""
    if channel.kind not in (Kind.DINGTALK, Kind.FEISHU, Kind.WECOM):
        return
    try:
        answer = response.json()
    except ValueError:
        return
    if not isinstance(answer, dict):
        return
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code in (0, None):
        return
    message = str(answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage") or "")
    text = f"{channel.get_kind_display()} refused the message: code {code} {message}"[:300]
    if code in RETRYABLE_CODES:
        raise Transient(text)
    raise Permanent(text)


def send(channel, payload: dict) -> None:
    if channel.kind == Kind.EMAIL:
        try:
            send_mail(
                payload.get("title", "Access Portal")[:200],
                text_of(payload),
                settings.DEFAULT_FROM_EMAIL,
                [channel.reveal_target()],
            )
        except (OSError, ConnectionError) as exc:
            raise Transient(f"The mail server did not take it: {type(exc).__name__}.") from None
        return
    request = build(channel, payload)
    try:
        response = httpx.post(
            request.url,
            content=request.body,
            headers=request.headers,
            timeout=settings.PORTAL_ALERT_TIMEOUT_S,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:  # never the URL: it holds the token
        raise Transient(
            f"Could not reach {channel.target_display}: {type(exc).__name__}."
        ) from None
    status = response.status_code
    if status >= 500 or status in (408, 425, 429):
        raise Transient(f"{channel.target_display} answered HTTP {status}.")
    if status >= 300:
        raise Permanent(
            f"{channel.target_display} answered HTTP {status}: check the URL and secret."
        )
    _check_vendor_answer(channel, response)
