"""The simulator's listeners: HTTP and HTTPS (asyncio + h11) and DNS (UDP), on loopback only."""

import asyncio
import contextlib
import email.utils
import http
import json
import logging
import socket
import struct
import tempfile
import threading
import uuid
from pathlib import Path

import h11

from . import api
from .dns import DnsResponder
from .state import SimState
from .tls import CertificateAuthority

logger = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"  # the simulator never listens or connects anywhere else
ADMIN_HOSTS = {"localhost", "127.0.0.1"}
READ_SIZE = 65536
SLOW_BODY_STEPS_PER_S = 20
REASONS = {status.value: status.phrase.encode() for status in http.HTTPStatus}


def _host_of(header: str) -> str:
    host = header.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0].rstrip(".")


def _to_request(event: h11.Request, body: list[bytes]) -> api.Request:
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers}
    return api.Request(
        method=event.method.decode("ascii"),
        path=event.target.decode("latin-1").partition("?")[0],
        headers=headers,
        body=b"".join(body),
        host=_host_of(headers.get("host", "")),
    )


class Simulator:
    """A local stand-in for Model Studio and PAI-EAS, routed by Host header (and SNI for certs).

    Ports: 0 picks a free one, None turns that listener off. Use it as `with Simulator() as
    sim:` (a background thread) or `async with Simulator() as sim:` (the running loop).
    `stop()` blocks in thread mode and returns a coroutine to await in async mode.
    """

    def __init__(
        self,
        state: SimState | None = None,
        http_port: int | None = 0,
        tls_port: int | None = 0,
        dns_port: int | None = None,
        workdir: str | Path | None = None,
        ca_path: str | Path | None = None,
    ):
        self.state = state if state is not None else SimState()
        self.dns = DnsResponder()
        self.http_port, self.tls_port, self.dns_port = http_port, tls_port, dns_port
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="simulator-"))
        self.ca_path = Path(ca_path or self.workdir / "simulator-ca.pem")
        self.ca: CertificateAuthority | None = None
        self._servers: list[asyncio.Server] = []
        self._dns_transport = None
        self._connections: set[asyncio.Task] = set()
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> "Simulator":
        loop = asyncio.get_running_loop()
        self.ca = CertificateAuthority(self.workdir, self.ca_path)
        if self.http_port is not None:
            server = await asyncio.start_server(self._serve, LOOPBACK, self.http_port, backlog=1024)
            self._servers.append(server)
            self.http_port = server.sockets[0].getsockname()[1]
        if self.tls_port is not None:
            context = self.ca.server_context(lambda name: self.state.fault_for(name, None))
            server = await asyncio.start_server(
                self._serve, LOOPBACK, self.tls_port, ssl=context, backlog=1024
            )
            self._servers.append(server)
            self.tls_port = server.sockets[0].getsockname()[1]
        if self.dns_port is not None:
            self._dns_transport, _ = await loop.create_datagram_endpoint(
                lambda: self.dns, local_addr=(LOOPBACK, self.dns_port)
            )
            self.dns_port = self._dns_transport.get_extra_info("sockname")[1]
            # A burst of questions (hundreds of probes a second, two each) must queue, not be
            # dropped as a full buffer would: a resolver's buffer is as large as this.
            with contextlib.suppress(OSError):
                self._dns_transport.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024
                )
        return self

    async def _stop(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._dns_transport is not None:
            self._dns_transport.close()
            self._dns_transport = None

    def start_in_thread(self, timeout: float = 30) -> "Simulator":
        """Serve from a new event loop in a daemon thread; returns once listening."""
        ready, failure = threading.Event(), []

        def run():
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # handed to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="model-studio-simulator", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the simulator did not start")
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self):
        if self._thread is None:
            return self._stop()
        self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
        self._thread.join()
        self._thread = None
        return None

    def __enter__(self):
        return self.start_in_thread()

    def __exit__(self, *exc):
        self.stop()

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self._stop()

    # -- HTTP ---------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        conn = h11.Connection(h11.SERVER)
        aborted = False
        try:
            while True:
                request = await self._read_request(conn, reader, writer)
                if request is None:
                    break
                keep_open, aborted = await self._respond(conn, request, reader, writer)
                if not keep_open or conn.our_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except h11.RemoteProtocolError:
            if conn.our_state in {h11.IDLE, h11.SEND_RESPONSE}:
                headers = self._headers(str(uuid.uuid4()), 0)
                rejection = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
                writer.write(conn.send(rejection))
                writer.write(conn.send(h11.EndOfMessage()))
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        except Exception:
            logger.exception("simulator: failed to answer a request")
        finally:
            self._connections.discard(task)
            if not aborted:
                writer.close()

    @staticmethod
    async def _read_request(conn, reader, writer) -> api.Request | None:
        event, body = None, []
        while True:
            next_event = conn.next_event()
            if next_event is h11.NEED_DATA:
                conn.receive_data(await reader.read(READ_SIZE))  # b"" at EOF
            elif isinstance(next_event, h11.Request):
                event = next_event
                if conn.they_are_waiting_for_100_continue:  # curl waits for this before a body
                    interim = h11.InformationalResponse(
                        status_code=100, headers=[], reason=b"Continue"
                    )
                    writer.write(conn.send(interim))
            elif isinstance(next_event, h11.Data):
                body.append(next_event.data)
            elif isinstance(next_event, h11.EndOfMessage):
                return _to_request(event, body)
            else:  # ConnectionClosed or PAUSED
                return None

    @staticmethod
    def _headers(request_id: str, length: int | None, content_type: str | None = None) -> list:
        headers = [
            (b"server", b"istio-envoy"),
            (b"date", email.utils.formatdate(usegmt=True).encode()),
            (b"x-request-id", request_id.encode()),
        ]
        if content_type:
            headers.append((b"content-type", content_type.encode()))
        if length is not None:
            headers.append((b"content-length", b"%d" % length))
        return headers

    async def _respond(self, conn, request: api.Request, reader, writer) -> tuple[bool, bool]:
        """Answer one request, faults included. Returns (keep the connection, was aborted)."""
        fault = None
        if request.host in ADMIN_HOSTS and request.path.startswith("/_simulator/"):
            response = self._admin(request)
        else:
            fault = self.state.fault_for(request.host, request.path)
            if fault and fault.hang:
                while await reader.read(READ_SIZE):  # until the client gives up
                    pass
                return False, False
            if fault and fault.reset:
                # Linger 0: close() sends RST instead of FIN.
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return False, True
            if fault and fault.close_without_response:
                return False, False
            response = api.handle(request, self.state, fault)

        # Everything is serialized before the injected delay, so time-to-first-byte is the delay.
        streamed = response.events is not None
        length = None if streamed else len(response.body)
        headers = self._headers(response.request_id, length, response.content_type)
        reason = REASONS.get(response.status, b"")
        head = conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
        pieces, pause = response.events if streamed else [response.body], 0.0
        rate = fault.slow_body_bytes_per_s if fault else None
        if rate:
            data, step = b"".join(pieces), max(1, int(rate) // SLOW_BODY_STEPS_PER_S)
            pieces, pause = [data[i : i + step] for i in range(0, len(data), step)], step / rate
        body = [conn.send(h11.Data(data=piece)) for piece in pieces]
        body.append(conn.send(h11.EndOfMessage()))
        delay = fault.delay_s() if fault else 0
        if delay:
            await asyncio.sleep(delay)
        if not streamed and not pause:
            writer.write(head + b"".join(body))
        else:
            writer.write(head)
            for chunk in body:  # events (or slow-body drips) leave one by one
                await writer.drain()
                if pause:
                    await asyncio.sleep(pause)
                writer.write(chunk)
        await writer.drain()
        return True, False

    def _admin(self, request: api.Request) -> api.Response:
        """Control endpoints for other processes (only for Host localhost or 127.0.0.1)."""
        rid = str(uuid.uuid4())
        route = (request.method, request.path)
        try:
            if route == ("PUT", "/_simulator/faults"):
                self.state.set_faults(json.loads(request.body or b"[]"))
            elif route == ("DELETE", "/_simulator/faults"):
                self.state.clear_faults()
            elif route == ("POST", "/_simulator/config"):
                config = json.loads(request.body or b"{}")
                self.state.apply_config(config)
                self.dns.apply_config(config.get("dns", {}))
            elif route != ("GET", "/_simulator/state"):
                return api.Response(404, content_type=None, request_id=rid)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return api.json_response(400, {"error": str(exc), "request_id": rid}, rid)
        ports = {"http": self.http_port, "tls": self.tls_port, "dns": self.dns_port}
        described = {**self.state.snapshot(), "dns": self.dns.records(), "ports": ports}
        return api.json_response(200, {**described, "request_id": rid}, rid)
