"""A tiny recursive-resolver stand-in on UDP: A/AAAA records, CNAME chains, NXDOMAIN, silence."""

import asyncio
import ipaddress

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TTL = 60
MAX_CHAIN = 8


def _key(name: str) -> str:
    return name.lower().rstrip(".")


class DnsResponder(asyncio.DatagramProtocol):
    """Answers like a resolver inside a VPC would, from records set by tests or the config.

    Names with addresses answer A/AAAA; a CNAME is followed within the answer (the CNAME
    RRs, then the target's addresses); unknown names are NXDOMAIN; blackholed names get no
    reply at all, so clients time out.
    """

    def __init__(self):
        # Changed in place from any thread; the loop only does single lookups, atomic under the GIL.
        self._addresses: dict[str, list[str]] = {}
        self._cnames: dict[str, str] = {}
        self._blackholes: set[str] = set()
        self.transport = None
        # Answers by question (the datagram after its ID): a burst of hundreds of questions a
        # second otherwise costs the simulator more CPU than the probes asking them. Any
        # change of the records starts a new generation once made, and an answer worked out
        # across a change is not kept: no stale answer is served.
        self._answers: dict[bytes, bytes | None] = {}
        self._generation = 0

    def set_a(self, name: str, addresses: list[str]) -> None:
        """Addresses for `name`, IPv4 and/or IPv6 (served as A and AAAA respectively)."""
        self._addresses[self._forget(name)] = [str(ipaddress.ip_address(a)) for a in addresses]
        self._changed()

    def set_cname(self, name: str, target: str) -> None:
        self._cnames[self._forget(name)] = _key(target)
        self._changed()

    def blackhole(self, name: str) -> None:
        self._blackholes.add(self._forget(name))
        self._changed()

    def clear(self) -> None:
        self._addresses.clear()
        self._cnames.clear()
        self._blackholes.clear()
        self._changed()

    def _changed(self) -> None:
        self._generation += 1
        self._answers = {}

    def _forget(self, name: str) -> str:
        key = _key(name)
        self._addresses.pop(key, None)
        self._cnames.pop(key, None)
        self._blackholes.discard(key)
        return key

    def apply_config(self, config: dict) -> None:
        for name, addresses in config.get("a", {}).items():
            self.set_a(name, addresses if isinstance(addresses, list) else [addresses])
        for name, target in config.get("cname", {}).items():
            self.set_cname(name, target)
        for name in config.get("blackhole", []):
            self.blackhole(name)

    def records(self) -> dict:
        blackholes = sorted(self._blackholes)
        return {"a": dict(self._addresses), "cname": dict(self._cnames), "blackhole": blackholes}

    # -- the protocol -----------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        question = data[2:]
        answers, generation = self._answers, self._generation
        if question in answers:
            wire = answers[question]
        else:
            try:
                query = dns.message.from_wire(data)
            except Exception:  # garbage on the port: a resolver just drops it
                return
            response = self.answer(query)
            wire = response.to_wire()[2:] if response is not None else None
            if generation == self._generation and len(answers) < 100_000:
                answers[question] = wire
        if wire is not None:
            self.transport.sendto(data[:2] + wire, addr)

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        for _ in range(MAX_CHAIN):
            key = _key(name.to_text())
            if key in self._blackholes:
                return None
            target = self._cnames.get(key)
            if target is None:
                break
            response.answer.append(self._rrset(name, dns.rdatatype.CNAME, [target + "."]))
            if rdtype == dns.rdatatype.CNAME:
                return response
            name = dns.name.from_text(target)
        addresses = self._addresses.get(key)
        if addresses is None:
            if key not in self._cnames:
                response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        version = {dns.rdatatype.A: 4, dns.rdatatype.AAAA: 6}.get(rdtype)
        matching = [a for a in addresses if ipaddress.ip_address(a).version == version]
        if matching:
            response.answer.append(self._rrset(name, rdtype, matching))
        return response  # a name without records of this type: NOERROR, empty answer

    @staticmethod
    def _rrset(name, rdtype, values) -> dns.rrset.RRset:
        return dns.rrset.from_text_list(name, TTL, dns.rdataclass.IN, rdtype, values)
