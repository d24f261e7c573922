"""Small HTTP receivers on loopback for the alert tests (http.server in a thread)."""

import base64
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Receiver:
    """Records every request; `answer(handler, body)` returns (status, body bytes)."""

    def __init__(self, answer=None):
        self.requests = []
        self.lock = threading.Lock()
        self.answer = answer or (lambda request: (200, b'{"errcode": 0, "errmsg": "ok"}'))
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                request = {"path": self.path, "headers": dict(self.headers), "body": body}
                with receiver.lock:
                    receiver.requests.append(request)
                status, content = receiver.answer(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def json(self, index=-1):
        return json.loads(self.requests[index]["body"])


def valid_webhook_signature(request, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"].get("X-Portal-Signature", ""), expected)


def dingtalk_answer(secret: str):
    """A DingTalk-style robot: checks timestamp and sign the way DingTalk documents them."""

    def answer(request):
        query = parse_qs(urlsplit(request["path"]).query)
        timestamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
        digest = hmac.new(
            secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256
        ).digest()
        # parse_qs has already url-decoded the sign: compare with the plain base64.
        if sign != base64.b64encode(digest).decode() or query.get("access_token") != ["tok123"]:
            return 200, b'{"errcode": 310000, "errmsg": "sign not match"}'
        return 200, b'{"errcode": 0, "errmsg": "ok"}'

    return answer


def failing(times: int):
    """Answers 500 `times` times, then 200."""
    state = {"n": 0}

    def answer(request):
        state["n"] += 1
        return (500, b"oops") if state["n"] <= times else (200, b"ok")

    return answer
