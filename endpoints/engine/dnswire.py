"""Asking a resolver over UDP, cheaply enough for hundreds of probes a second.

dnspython builds and parses the messages; what it does not have is a client that shares one
socket between the questions in flight. `dns.asyncquery.udp` opens a socket (and an asyncio
transport) per question, and builds each question afresh: at a few hundred probes a second,
two questions each, that was a third of a worker's CPU. Here:

- each event loop keeps connected UDP sockets per resolver (`_Channel`s), each shared by up
  to PER_SOCKET questions in flight and closed after IDLE_S without one; questions are told
  apart by their 16-bit ID, drawn at random among the IDs not in flight on that socket;
- a question's wire form is built once per (name, type) and only its ID changes;
- an answer counts only if it comes from the resolver (the socket is connected: the kernel
  drops other senders), carries an ID in flight, has the QR bit and repeats the question;
  anything else is ignored, as `dns.asyncquery.udp(ignore_unexpected=True)` would;
- an ICMP error (nothing listens on the resolver's port) fails the questions in flight to
  that resolver, as an OSError, like a socket of their own would have.

The caller keeps the policy (which resolvers may be asked, the deadline, TCP on truncation).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import weakref
from functools import lru_cache

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype

IDLE_S = 5.0
# Questions in flight per socket: the answers queue in its receive buffer until the loop reads
# them, and an answer that finds the buffer full is dropped (a timeout, wrongly the resolver's
# fault); more questions to one resolver open more sockets.
PER_SOCKET = 32
RECEIVE_BUFFER = 256 * 1024

_channels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = weakref.WeakKeyDictionary()


@lru_cache(maxsize=16384)
def question_wire(name: str, rdtype: str) -> tuple[bytes, dns.name.Name, int]:
    """The question's wire form (its ID is replaced per use), its name and type."""
    query = dns.message.make_query(name, rdtype)
    return query.to_wire(), query.question[0].name, query.question[0].rdtype


class _Channel(asyncio.DatagramProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, key: tuple[str, int]):
        self.loop = loop
        self.key = key
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[int, tuple[asyncio.Future, dns.name.Name, int]] = {}
        self.closed = False
        self._idle: asyncio.TimerHandle | None = None

    # -- asyncio's side -------------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) < 12:
            return
        entry = self.waiting.get(int.from_bytes(data[:2], "big"))
        if entry is None:
            return  # late (its question timed out) or not ours
        future, name, rdtype = entry
        try:
            response = dns.message.from_wire(data)
        except dns.exception.DNSException as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not response.flags & dns.flags.QR or not _same_question(response, name, rdtype):
            return
        if not future.done():
            future.set_result(response)

    def error_received(self, exc: Exception) -> None:
        self._fail_all(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_all(exc or ConnectionResetError("the resolver's socket was closed"))
        pool = _channels.get(self.loop, {}).get(self.key)
        if pool is not None and self in pool:
            pool.remove(self)

    # -- ours -----------------------------------------------------------------------------------

    async def ask(self, name: str, rdtype: str, timeout: float) -> dns.message.Message:
        wire, qname, qtype = question_wire(name, rdtype)
        while True:
            qid = secrets.randbits(16)
            if qid not in self.waiting:
                break
        future = self.loop.create_future()
        self.waiting[qid] = (future, qname, qtype)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        expiry = self.loop.call_later(timeout, _expire, future, timeout)
        try:
            self.transport.sendto(qid.to_bytes(2, "big") + wire[2:])
            return await future
        finally:
            expiry.cancel()
            self.waiting.pop(qid, None)
            if not self.waiting and not self.closed:
                self._idle = self.loop.call_later(IDLE_S, self.close_if_idle)

    def close_if_idle(self) -> None:
        if not self.waiting:
            self.close()

    def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def _fail_all(self, exc: Exception) -> None:
        for future, _, _ in list(self.waiting.values()):
            if not future.done():
                future.set_exception(exc)


def _same_question(response: dns.message.Message, name: dns.name.Name, rdtype: int) -> bool:
    if len(response.question) != 1:
        return False
    asked = response.question[0]
    return asked.rdtype == rdtype and asked.name == name


def _expire(future: asyncio.Future, timeout: float) -> None:
    if not future.done():
        future.set_exception(dns.exception.Timeout(timeout=timeout))


async def _channel(address: str, port: int) -> _Channel:
    """A socket to this resolver with room for one more question (opened if none has)."""
    loop = asyncio.get_running_loop()
    pool: list = _channels.setdefault(loop, {}).setdefault((address, port), [])
    for found in pool:
        if isinstance(found, _Channel):
            if not found.closed and len(found.waiting) < PER_SOCKET:
                return found
        elif found.room > 0:  # being opened: wait for it
            found.room -= 1
            return await asyncio.shield(found)
    opening = loop.create_future()
    opening.room = PER_SOCKET - 1
    pool.append(opening)
    try:
        transport, channel = await loop.create_datagram_endpoint(
            lambda: _Channel(loop, (address, port)), remote_addr=(address, port)
        )
    except BaseException as exc:
        pool.remove(opening)
        opening.set_exception(exc)
        opening.exception()  # retrieved here; the callers waiting on it get it raised
        raise
    _widen_receive_buffer(transport)
    pool[pool.index(opening)] = channel
    opening.set_result(channel)
    return channel


def _widen_receive_buffer(transport) -> None:
    sock = transport.get_extra_info("socket")
    with contextlib.suppress(OSError):  # the kernel's limit: PER_SOCKET keeps the need small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


async def ask_udp(
    name: str, rdtype: str, address: str, port: int, timeout: float
) -> dns.message.Message:
    """One question to one resolver over UDP, on the loop's shared socket for it: the
    response, or dns.exception.Timeout, OSError (unreachable), a DNSException (malformed)."""
    channel = await _channel(address, port)
    return await channel.ask(name, rdtype, timeout)


def close_channels() -> None:
    """Close the running loop's resolver sockets (before the loop itself ends)."""
    loop = asyncio.get_running_loop()
    for pool in list(_channels.pop(loop, {}).values()):
        for channel in pool:
            if isinstance(channel, _Channel):
                channel.close()


def answer_records(response: dns.message.Message, name: dns.name.Name, rdtype: int):
    """The chain from the question's name: (the CNAME targets in order, the addresses of the
    name it ends at), following CNAMEs through the answer section as a stub resolver does."""
    by_name: dict[dns.name.Name, list] = {}
    for rrset in response.answer:
        by_name.setdefault(rrset.name, []).append(rrset)
    targets, addresses = [], []
    current = name
    for _ in range(16):
        rrsets = by_name.get(current, ())
        found = [r for r in rrsets if r.rdtype == rdtype]
        if found:
            addresses = [rdata.address for r in found for rdata in r]
            break
        cname = next((r for r in rrsets if r.rdtype == dns.rdatatype.CNAME), None)
        if cname is None:
            break
        current = next(iter(cname)).target
        targets.append(current.to_text().rstrip(".").lower())
    return targets, addresses
