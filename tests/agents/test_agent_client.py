"""The agent's connection to the portal: HTTPS with the CA bundle of SSL_CERT_FILE, through
HTTPS_PROXY when set, plain HTTP refused except to loopback."""

import asyncio
import json
import select
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from endpoints.devtools.simulator.tls import CertificateAuthority
from endpoints.probe_agent.client import PortalClient, Unreachable, check_portal_url


class Portal(BaseHTTPRequestHandler):
    """Answers every POST like the portal's hello."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"agent": {"id": 1}, "seen_auth": self.headers["Authorization"]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def https_portal(tmp_path):
    ca = CertificateAuthority(tmp_path, tmp_path / "ca.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca._write(("localhost", False, None)))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_address[1]}", tmp_path / "ca.pem"
    server.shutdown()


class ConnectProxy(threading.Thread):
    """An HTTPS proxy on loopback (CONNECT only) that notes where it was asked to go."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port, self.seen = self.sock.getsockname()[1], []

    def run(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.tunnel, args=(client,), daemon=True).start()

    def tunnel(self, client):
        request = client.recv(4096).decode()
        target = request.split()[1]
        self.seen.append(target)
        _, port = target.rsplit(":", 1)  # always loopback: the test proxy goes nowhere else
        upstream = socket.create_connection(("127.0.0.1", int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        sockets = [client, upstream]
        while True:
            ready, _, _ = select.select(sockets, [], [], 5)
            if not ready:
                break
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)


def hello(portal_url):
    async def call():
        client = PortalClient(portal_url, "apa_token", "0.2.0", timeout=5)
        try:
            return await client.hello("key", "0.2.0", "host")
        finally:
            await client.close()

    return asyncio.run(call())


def test_it_trusts_the_ca_bundle_of_ssl_cert_file(https_portal, monkeypatch):
    url, ca = https_portal
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(Unreachable):  # the portal's private CA is not trusted by default
        hello(url)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    assert hello(url)["seen_auth"] == "Bearer apa_token"


def test_it_goes_through_https_proxy(https_portal, monkeypatch):
    url, ca = https_portal
    proxy = ConnectProxy()
    proxy.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "")
    assert hello(url)["agent"] == {"id": 1}
    assert proxy.seen == [url.removeprefix("https://")]
    proxy.sock.close()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://portal.example.com", True),
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://portal.example.com", False),  # plain HTTP off loopback
        ("ftp://portal.example.com", False),
        ("portal.example.com", False),
    ],
)
def test_plain_http_is_refused_except_to_loopback(url, allowed):
    if allowed:
        assert check_portal_url(url) == url
    else:
        with pytest.raises(ValueError):
            check_portal_url(url)
    assert check_portal_url("http://portal.example.com", allow_http=True)
