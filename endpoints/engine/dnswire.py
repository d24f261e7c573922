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
  that resolver, as an OSError, like a socket of their own would have;
- an answer is read into a `Reply` (its rcode, TC bit and answer records) by `read_reply`,
  which reads the plain case itself: one question echoed byte for byte, no additional
  records, host names of letters, digits, '-' and '_'. dnspython parsing every answer was
  half of a lookup's CPU; anything else (a 0x20-mixed question, EDNS, escapes) is parsed by
  dnspython as before, and whatever dnspython refuses is refused.

The caller keeps the policy (which resolvers may be asked, the deadline, TCP on truncation).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
import weakref
from dataclasses import dataclass, field
from functools import lru_cache

import dns.exception
import dns.flags
import dns.ipv4
import dns.ipv6
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


A, AAAA, CNAME = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME
_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_-]+")
_MAX_POINTERS = 64


@lru_cache(maxsize=16384)
def question_wire(name: str, rdtype: str) -> tuple[bytes, dns.name.Name, int]:
    """The question's wire form (its ID is replaced per use), its name and type."""
    query = dns.message.make_query(name, rdtype)
    return query.to_wire(), query.question[0].name, query.question[0].rdtype


@dataclass(slots=True)
class Reply:
    """What a lookup needs of an answer: its rcode, whether it was truncated (TC), and its
    answer records as (owner, type, value): an address for A/AAAA, the target for CNAME;
    names in lower case without the final dot."""

    rcode: int
    truncated: bool = False
    records: list[tuple[str, int, str]] = field(default_factory=list)

    @classmethod
    def of_message(cls, message: dns.message.Message) -> Reply:
        records = []
        for rrset in message.answer:
            owner = _text(rrset.name)
            for rdata in rrset:
                if rrset.rdtype in (A, AAAA):
                    records.append((owner, rrset.rdtype, rdata.address))
                elif rrset.rdtype == CNAME:
                    records.append((owner, rrset.rdtype, _text(rdata.target)))
        return cls(message.rcode(), bool(message.flags & dns.flags.TC), records)


def _text(name: dns.name.Name) -> str:
    return name.to_text().rstrip(".").lower()


class _Unusual(Exception):
    """Not the plain case `read_reply` reads itself: dnspython parses it."""


def read_reply(data: bytes, question: bytes, qname: dns.name.Name, qtype: int) -> Reply | None:
    """The answer in `data` to the question whose wire form is `question` (ID aside); None if
    it is not an answer to it (no QR bit, another question). Raises a DNSException if
    malformed."""
    try:
        return _read_plain(data, question)
    except _Unusual:
        pass
    response = dns.message.from_wire(data)
    if not response.flags & dns.flags.QR or not _same_question(response, qname, qtype):
        return None
    return Reply.of_message(response)


def _read_plain(data: bytes, question: bytes) -> Reply | None:
    if len(data) < 12:
        raise dns.exception.FormError("shorter than a DNS header")
    flags = int.from_bytes(data[2:4], "big")
    if not flags & dns.flags.QR:
        return None
    qdcount, ancount = int.from_bytes(data[4:6], "big"), int.from_bytes(data[6:8], "big")
    arcount = int.from_bytes(data[10:12], "big")
    end_of_question = len(question)
    if qdcount != 1 or arcount or data[12:end_of_question] != question[12:]:
        raise _Unusual  # another question (or the same in other case), EDNS, extra records
    reply = Reply(flags & 0xF, bool(flags & dns.flags.TC))
    if reply.truncated:
        return reply  # asked again over TCP: what did arrive may be cut anywhere
    offset = end_of_question
    for _ in range(ancount):
        owner, offset = _read_name(data, offset)
        if offset + 10 > len(data):
            raise dns.exception.FormError("an answer record cut short")
        rdtype = int.from_bytes(data[offset : offset + 2], "big")
        length = int.from_bytes(data[offset + 8 : offset + 10], "big")
        start, offset = offset + 10, offset + 10 + length
        if offset > len(data):
            raise dns.exception.FormError("an answer's data cut short")
        if rdtype == A:
            if length != 4:
                raise dns.exception.FormError("an A record that is not 4 bytes")
            reply.records.append((owner, A, dns.ipv4.inet_ntoa(data[start:offset])))
        elif rdtype == AAAA:
            if length != 16:
                raise dns.exception.FormError("an AAAA record that is not 16 bytes")
            reply.records.append((owner, AAAA, dns.ipv6.inet_ntoa(data[start:offset])))
        elif rdtype == CNAME:
            target, after = _read_name(data, start)
            if after != offset:
                raise dns.exception.FormError("a CNAME whose name and length disagree")
            reply.records.append((owner, CNAME, target))
    if len(reply.records) > 1:
        # As dnspython reads them: a record repeated counts once, and of two CNAMEs for one
        # name (a singleton type) the later stands.
        kept = {}
        for owner, kind, value in reply.records:
            kept[(owner, kind) if kind == CNAME else (owner, kind, value)] = (owner, kind, value)
        reply.records = list(kept.values())
    return reply


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """The name at `offset` (compression pointers followed, each to an earlier place) and the
    offset after it where it started."""
    labels, after, pointers, size = [], None, 0, 0
    while True:
        if offset >= len(data):
            raise dns.exception.FormError("a name runs past the message")
        length = data[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise dns.exception.FormError("a compression pointer cut short")
            target = ((length & 0x3F) << 8) | data[offset + 1]
            pointers += 1
            if target >= offset or pointers > _MAX_POINTERS:
                raise dns.exception.FormError("a compression pointer that does not point back")
            if after is None:
                after = offset + 2
            offset = target
            continue
        if length & 0xC0:
            raise _Unusual  # an extended label type: dnspython decides
        label = data[offset + 1 : offset + 1 + length]
        if len(label) != length:
            raise dns.exception.FormError("a label runs past the message")
        if not _PLAIN_LABEL.fullmatch(label):
            raise _Unusual  # escapes in text form: dnspython's to_text writes them
        size += length + 1
        if size > 255:
            raise dns.exception.FormError("a name longer than 255 bytes")
        labels.append(label.decode("ascii").lower())
        offset += 1 + length
    return ".".join(labels), after if after is not None else offset


class _Channel(asyncio.DatagramProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, key: tuple[str, int]):
        self.loop = loop
        self.key = key
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[int, tuple[asyncio.Future, bytes, dns.name.Name, int]] = {}
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
        future, wire, name, rdtype = entry
        try:
            reply = read_reply(data, wire, name, rdtype)
        except dns.exception.DNSException as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if reply is not None and not future.done():
            future.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        self._fail_all(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_all(exc or ConnectionResetError("the resolver's socket was closed"))
        pool = _channels.get(self.loop, {}).get(self.key)
        if pool is not None and self in pool:
            pool.remove(self)

    # -- ours -----------------------------------------------------------------------------------

    async def ask(self, name: str, rdtype: str, timeout: float) -> Reply:
        wire, qname, qtype = question_wire(name, rdtype)
        while True:
            qid = secrets.randbits(16)
            if qid not in self.waiting:
                break
        future = self.loop.create_future()
        self.waiting[qid] = (future, wire, qname, qtype)
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
        for future, *_ in list(self.waiting.values()):
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


async def ask_udp(name: str, rdtype: str, address: str, port: int, timeout: float) -> Reply:
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


def answer_records(reply: Reply, name: str, rdtype: int) -> tuple[list[str], list[str]]:
    """The chain from the question's `name`: (the CNAME targets in order, the addresses of the
    name it ends at), following CNAMEs through the answer section as a stub resolver does."""
    by_name: dict[str, list[tuple[int, str]]] = {}
    for owner, kind, value in reply.records:
        by_name.setdefault(owner, []).append((kind, value))
    targets, addresses = [], []
    current = name.rstrip(".").lower()
    for _ in range(16):
        records = by_name.get(current, ())
        addresses = [value for kind, value in records if kind == rdtype]
        if addresses:
            break
        cname = next((value for kind, value in records if kind == CNAME), None)
        if cname is None:
            break
        current = cname
        targets.append(current)
    return targets, addresses
