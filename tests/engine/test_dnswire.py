"""The shared resolver sockets: many questions on few sockets, answers matched to their
question (a forged or stray answer changes nothing), and a lost answer reported as a timeout,
never as a name without addresses."""

import asyncio
import ipaddress
import socket
import threading

import dns.exception
import dns.flags
import dns.message
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from endpoints.engine import dnswire
from endpoints.engine.resolve import resolve
from endpoints.engine.verdicts import Finding
from tests.engine.conftest import LOOPBACK_ONLY

HOST = "ep-wire001.dashscope.cn-beijing.privatelink.aliyuncs.com"


class Responder:
    """A resolver on loopback whose behaviour a test scripts: `forge` first sends an answer for
    another question with the same ID, `drop_a` never answers A questions."""

    def __init__(self, forge=False, drop_a=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.forge, self.drop_a = forge, drop_a
        self.client_ports: set[int] = set()
        self.questions = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            self.questions += 1
            self.client_ports.add(addr[1])
            question = query.question[0]
            if self.drop_a and question.rdtype == dns.rdatatype.A:
                continue
            if self.forge:
                other = dns.message.make_query("attacker.example.com", question.rdtype)
                other.id = query.id
                forged = dns.message.make_response(other)
                forged.answer.append(
                    dns.rrset.from_text(question.name, 60, "IN", "A", "127.0.0.66")
                )
                self.sock.sendto(forged.to_wire(), addr)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.RA
            if question.rdtype == dns.rdatatype.A:
                response.answer.append(
                    dns.rrset.from_text(question.name, 60, "IN", "A", "127.0.0.1")
                )
            self.sock.sendto(response.to_wire(), addr)


def resolve_many(port, hosts, timeout=2.0):
    async def main():
        try:
            return await asyncio.gather(
                *(resolve(h, f"127.0.0.1:{port}", {}, LOOPBACK_ONLY, timeout) for h in hosts),
                return_exceptions=True,
            )
        finally:
            dnswire.close_channels()

    return asyncio.run(main())


def test_many_questions_share_a_few_sockets_and_each_gets_its_own_answer():
    hosts = [f"ep-wire{n:03d}.dashscope.cn-beijing.privatelink.aliyuncs.com" for n in range(100)]
    with Responder() as responder:
        results = resolve_many(responder.port, hosts)
    assert all(r.addresses == ["127.0.0.1"] for r in results), results[:3]
    assert responder.questions == 200  # A and AAAA each
    # 200 questions at once, at most PER_SOCKET in flight per socket (a full receive buffer
    # drops answers): a few sockets, not one each.
    assert 2 <= len(responder.client_ports) <= 200 // dnswire.PER_SOCKET + 1


def test_an_answer_to_another_question_with_the_same_id_is_ignored():
    with Responder(forge=True) as responder:
        (result,) = resolve_many(responder.port, [HOST])
    assert result.addresses == ["127.0.0.1"]  # not the forged 127.0.0.66


def test_a_lost_answer_is_a_timeout_not_a_name_without_addresses():
    with Responder(drop_a=True) as responder:
        (result,) = resolve_many(responder.port, [HOST], timeout=0.5)
    assert isinstance(result, Finding)
    assert result.code == "dns_timeout", result.message


def test_a_resolver_nobody_listens_on_is_reported_unreachable_quickly():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (result,) = resolve_many(port, [HOST], timeout=3.0)
    assert isinstance(result, Finding)
    assert result.code == "dns_error"
    assert "could not be reached" in result.message


@pytest.mark.parametrize("count", [1, 40])
def test_sockets_are_closed_when_the_loop_is_done(count):
    hosts = [f"ep-close{n:03d}.dashscope.cn-beijing.privatelink.aliyuncs.com" for n in range(count)]
    seen = []

    async def main():
        await asyncio.gather(
            *(resolve(h, f"127.0.0.1:{port}", {}, LOOPBACK_ONLY, 2.0) for h in hosts)
        )
        pools = dnswire._channels[asyncio.get_running_loop()]
        seen.extend(c for pool in pools.values() for c in pool)
        dnswire.close_channels()
        await asyncio.sleep(0)

    with Responder() as responder:
        port = responder.port
        asyncio.run(main())
    assert seen and all(c.closed and c.transport.is_closing() for c in seen)


# -- reading answers ------------------------------------------------------------------------

LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789-_", min_size=1, max_size=20)
NAMES = st.lists(LABEL, min_size=1, max_size=4).map(lambda labels: ".".join(labels) + ".example.")
RECORDS = st.lists(
    st.tuples(
        st.sampled_from(["asked", "other"]) | NAMES,
        st.sampled_from(["A", "AAAA", "CNAME"]),
        st.integers(0, 2**32 - 1),
        NAMES,
    ),
    max_size=8,
)


def answer_wire(question: str, qtype: str, records, *, qid=4321, rcode=0, tc=False) -> bytes:
    query = dns.message.make_query(question, qtype)
    query.id = qid
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    if tc:
        response.flags |= dns.flags.TC
    for owner, kind, number, target in records:
        owner = question if owner == "asked" else "x.other.example." if owner == "other" else owner
        value = {
            "A": str(ipaddress.IPv4Address(number)),
            "AAAA": str(ipaddress.IPv6Address(number << 64 | number)),
            "CNAME": target,
        }[kind]
        response.answer.append(dns.rrset.from_text(owner, 60, "IN", kind, value))
    return response.to_wire()  # dnspython compresses the names


def dnspython_reading(data: bytes, question: str, qtype: str):
    try:
        response = dns.message.from_wire(data)
    except dns.exception.DNSException:
        return "refused"
    return dnswire.Reply.of_message(response)


@settings(max_examples=300, deadline=None)
@given(question=NAMES, qtype=st.sampled_from(["A", "AAAA"]), records=RECORDS, data=st.data())
def test_answers_are_read_as_dnspython_reads_them_whole_or_cut_anywhere(
    question, qtype, records, data
):
    wire = answer_wire(question, qtype, records, rcode=data.draw(st.sampled_from([0, 2, 3])))
    asked, qname, rdtype = dnswire.question_wire(question, qtype)
    whole = dnswire.read_reply(wire, asked, qname, rdtype)
    expected = dnspython_reading(wire, question, qtype)
    assert (whole.rcode, whole.truncated) == (expected.rcode, expected.truncated)
    assert set(whole.records) == set(expected.records)  # dnspython groups them by name and type
    assert dnswire.answer_records(whole, question, rdtype) == dnswire.answer_records(
        dnspython_reading(wire, question, qtype), question, rdtype
    )
    cut = data.draw(st.integers(0, len(wire) - 1))
    try:
        read = dnswire.read_reply(wire[:cut], asked, qname, rdtype)
    except dns.exception.DNSException:
        read = "refused"
    expected = dnspython_reading(wire[:cut], question, qtype)
    if expected == "refused":
        assert read in ("refused", None)  # None: not even a header worth reading as an answer
    else:
        assert set(read.records) == set(expected.records)


def test_an_answer_in_other_case_or_with_edns_is_still_read():
    question = "Ep-Wire001.example."
    asked, qname, rdtype = dnswire.question_wire(question.lower(), "A")
    wire = answer_wire(question, "A", [("asked", "A", 2130706433, "")])  # 0x20-mixed echo
    assert dnswire.read_reply(wire, asked, qname, rdtype).records == [
        ("ep-wire001.example", dns.rdatatype.A, "127.0.0.1")
    ]
    query = dns.message.make_query(question.lower(), "A", use_edns=0)
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(question.lower(), 60, "IN", "A", "127.0.0.2"))
    reply = dnswire.read_reply(response.to_wire(), asked, qname, rdtype)
    assert reply.records == [("ep-wire001.example", dns.rdatatype.A, "127.0.0.2")]


def test_a_truncated_answer_says_so_and_a_pointer_loop_is_refused():
    asked, qname, rdtype = dnswire.question_wire("loop.example.", "A")
    assert dnswire.read_reply(
        answer_wire("loop.example.", "A", [], tc=True), asked, qname, rdtype
    ).truncated
    header = bytearray(answer_wire("loop.example.", "A", []))
    header[6:8] = (1).to_bytes(2, "big")  # one answer, whose owner points at itself
    at = len(header)
    looped = bytes(header) + bytes([0xC0 | (at >> 8), at & 0xFF]) + b"\0" * 10
    with pytest.raises(dns.exception.FormError):
        dnswire.read_reply(looped, asked, qname, rdtype)
    answer = dns.message.make_query("not-asked.example.", "A")
    assert dnswire.read_reply(answer.to_wire(), asked, qname, rdtype) is None  # no QR bit
