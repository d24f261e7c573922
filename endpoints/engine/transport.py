"""Connections: TCP with a reader that timestamps arriving bytes, TLS contexts, and aborts."""

from __future__ import annotations

import asyncio
import ssl
import time
from functools import lru_cache

from .targets import AddressResult


def elapsed_ms(start: float, end: float | None = None) -> float:
    return round(((end if end is not None else time.perf_counter()) - start) * 1000, 3)


@lru_cache(maxsize=8)
def ssl_context(ca_file: str | None, verify: bool = True) -> ssl.SSLContext:
    # create_default_context() honours SSL_CERT_FILE / SSL_CERT_DIR, like other tools do.
    context = (
        ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    )
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class TimedStreamReader(asyncio.StreamReader):
    """A StreamReader that notes when bytes reach the process (for the time to first byte).

    `feed_data` runs in the event loop's read callback, as soon as recv() returns: the
    moment the first byte arrived, not the later moment the waiting coroutine resumes
    (under load, many other callbacks may run in between).
    """

    received_at: float | None = None

    def feed_data(self, data: bytes) -> None:
        if self.received_at is None and data:
            self.received_at = time.perf_counter()
        super().feed_data(data)


async def open_connection(address: str, port: int):
    """asyncio.open_connection(), with a reader that timestamps arriving data."""
    loop = asyncio.get_running_loop()
    reader = TimedStreamReader(loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, address, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def open_address(address: str, port: int, timeout: float, result: AddressResult):
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await open_connection(address, port)
    except TimeoutError:
        result.error = "timeout"
        return None
    except ConnectionRefusedError:
        result.error = "refused"
        result.connect_ms = elapsed_ms(start)
        return None
    except OSError as exc:
        result.error = exc.strerror or type(exc).__name__
        return None
    result.connect_ms = elapsed_ms(start)
    result.ok = True
    return reader, writer


def abort(writer) -> None:
    """Drop the connection at once (no TLS close_notify wait)."""
    transport = writer.transport
    if transport is not None:
        transport.abort()


async def speaks_tls(address: str, port: int, host: str, timeout: float) -> bool:
    """Whether address:port completes a TLS handshake (to explain a failed plain request)."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(
                address, port, ssl=ssl_context(None, verify=False), server_hostname=host
            )
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    abort(writer)
    return True
