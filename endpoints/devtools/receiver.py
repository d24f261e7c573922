"""The demo's webhook receiver: what a team's on-call tooling would be, on 127.0.0.1.

It takes the portal's webhook deliveries at POST /hook, checks each one's
`X-Portal-Signature: sha256=<hex HMAC of the raw body>` with the channel's secret, and shows
what arrived at GET / (newest first), so the demo's alerts can be seen landing.
"""

import hashlib
import hmac
import html
import json
import threading
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOOPBACK = "127.0.0.1"
KEEP = 200


class Inbox:
    def __init__(self, secret: str):
        self.secret = secret.encode()
        self.items: deque = deque(maxlen=KEEP)
        self.lock = threading.Lock()

    def take(self, body: bytes, signature: str) -> dict:
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        valid = bool(signature) and hmac.compare_digest(expected, signature)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"unreadable": body[:200].decode(errors="replace")}
        item = {"at": datetime.now(UTC), "valid": valid, "payload": payload}
        with self.lock:
            self.items.appendleft(item)
        return item


def page(inbox: Inbox) -> bytes:
    rows = []
    with inbox.lock:
        items = list(inbox.items)
    for item in items:
        p = item["payload"]
        endpoint = p.get("endpoint") or {}
        rows.append(
            "<tr><td>{at}</td><td>{ok}</td><td>{event}</td><td>{name}</td><td>{status}</td>"
            "<td>{diagnosis}</td></tr>".format(
                at=item["at"].strftime("%Y-%m-%d %H:%M:%S UTC"),
                ok="signature valid" if item["valid"] else "<strong>BAD SIGNATURE</strong>",
                event=html.escape(str(p.get("event", ""))),
                name=html.escape(str(endpoint.get("name") or p.get("vpc") or "")),
                status=html.escape(str(p.get("status", ""))),
                diagnosis=html.escape(str(p.get("diagnosis", ""))),
            )
        )
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Demo webhook "
        "receiver</title><meta http-equiv='refresh' content='5'></head><body>"
        "<h1>Demo webhook receiver (127.0.0.1)</h1><p>What the portal's demo channel delivered, "
        "newest first; this page refreshes every 5 s.</p><table border='1' cellpadding='4'>"
        "<tr><th>Arrived</th><th>Signature</th><th>Event</th><th>Endpoint / VPC</th>"
        "<th>Status</th><th>Diagnosis</th></tr>"
        + ("".join(rows) or "<tr><td colspan='6'>Nothing yet.</td></tr>")
        + "</table></body></html>"
    )
    return body.encode()


def serve(port: int, secret: str) -> ThreadingHTTPServer:
    inbox = Inbox(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
            inbox.take(self.rfile.read(length), self.headers.get("X-Portal-Signature", ""))
            self.send_response(204)
            self.end_headers()

        def do_GET(self):
            if self.path == "/json":
                with inbox.lock:
                    body = json.dumps(list(inbox.items), default=str).encode()
                kind = "application/json"
            else:
                body, kind = page(inbox), "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((LOOPBACK, port), Handler)
    server.inbox = inbox
    return server
