"""The probe agent's loop: lease due probes, probe each at its slot with the engine, post the
results, beat, and carry on alone while the portal is away.

- Leases come every `poll_s` while there is room; each probe waits for its slot, so probes
  start on time. Up to `capacity` probes run at once; room is counted over the probes whose
  slot has come (four times `capacity`, waiting for a place or in flight), not over those
  held for a slot still to come, which cost nothing but are a poll's worth of the work.
- Results go back at most ~1 s after their probe ends. While the portal is unreachable they
  wait in a bounded buffer (oldest dropped first, counted) and the agent keeps probing what it
  last leased, on the same grid (slot + k x interval); when the portal answers again the
  buffer is delivered, and the portal stores each slot once. A results request the portal
  refuses (a 4xx other than 401/403) loses its own results only, counted as dropped too.
- A rejected token (revoked) is fatal: exit status 2, one line on stderr. SIGTERM ends it
  cleanly: no new leases, the probes in flight finish, the buffer is delivered if it can be.
- Secrets arrive sealed to this agent's key and are unsealed in memory at the moment of use;
  nothing is written but the agent's own private key.
"""

import asyncio
import contextlib
import logging
import signal
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from endpoints.engine import EgressPolicy, ProbeTarget, outcome_as_json, probe

from .client import PortalClient, Refused, Rejected, Unreachable
from .keys import load_or_create, public_half, unseal

log = logging.getLogger("access_portal_agent")
EXIT_REJECTED = 2
MAX_POST = 500
BACKOFF_MAX_S = 30.0
MAX_LEASE = 500  # the most one lease may ask for (the portal refuses more)
MAX_HELD = 20_000  # probes held for their slot at once, for memory's sake


@dataclass
class Known:
    """What the agent last leased for a schedule: enough to keep probing it alone."""

    item: dict
    next_slot: datetime
    interval: timedelta


@dataclass
class Stats:
    buffered: int = 0
    dropped: int = 0
    delivered: int = 0
    probes: int = 0
    offline_since: datetime | None = None
    extra: dict = field(default_factory=dict)


class ProbeAgent:
    def __init__(
        self,
        portal: str,
        token: str,
        *,
        version: str,
        hostname: str,
        state_dir: str | None = None,
        capacity: int = 50,
        buffer_size: int = 10_000,
        policy: EgressPolicy | None = None,
    ):
        self.client = PortalClient(portal, token, version)
        self.version, self.hostname = version, hostname
        self.key = load_or_create(state_dir)
        self.capacity = capacity
        self.policy = policy or EgressPolicy.from_env(holder="agent")
        self.buffer: deque = deque(maxlen=buffer_size)
        self.in_flight = 0  # results posted, not yet answered (out of the buffer meanwhile)
        self.portal_back = asyncio.Event()  # the lease loop saw the portal answer again
        self.stats = Stats()
        self.known: dict[int, Known] = {}
        self.pending: set[int] = set()  # schedules with a probe waiting or in flight
        self.ready = 0  # of those, whose slot has come (waiting for a place or in flight)
        self.late_leases: dict[tuple[int, str], str] = {}  # a lease for a slot already pending
        self.tasks: set[asyncio.Task] = set()
        self.semaphore = asyncio.Semaphore(capacity)
        self.stopping = asyncio.Event()
        self.exit_code = 0
        self.poll_s, self.heartbeat_s = 2.0, 15.0
        self.offline = False

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stopping.set)
        try:
            if not await self._hello():
                return self.exit_code
            workers = [
                asyncio.create_task(self._lease_loop()),
                asyncio.create_task(self._results_loop()),
                asyncio.create_task(self._heartbeat_loop()),
            ]
            await self.stopping.wait()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await self._finish()
        finally:
            await self.client.close()
        return self.exit_code

    def _fatal(self, exc: Rejected) -> None:
        if not self.exit_code:
            self.exit_code = EXIT_REJECTED
            detail = str(exc) or "revoked, or not an agent token"
            self.fatal_message = (
                f"access-portal-agent: the portal rejected this agent's token ({detail})"
            )
        self.stopping.set()

    async def _hello(self) -> bool:
        delay = 1.0
        while not self.stopping.is_set():
            try:
                config = await self.client.hello(public_half(self.key), self.version, self.hostname)
            except Rejected as exc:
                self._fatal(exc)
                return False
            except (Unreachable, Refused) as exc:
                log.warning(
                    "The portal did not answer the hello (%s); retrying in %.0f s.", exc, delay
                )
                await self._sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            self.poll_s = float(config.get("poll_s", self.poll_s))
            self.heartbeat_s = float(config.get("heartbeat_s", self.heartbeat_s))
            agent = config.get("agent", {})
            log.info(
                "Agent %s of %s, portal %s; probing up to %d at once.",
                agent.get("name"),
                agent.get("vpc"),
                config.get("portal_version"),
                self.capacity,
            )
            if config.get("portal_version") not in {None, "unknown", self.version}:
                log.warning(
                    "This agent runs %s and the portal %s: upgrade one of them.",
                    self.version,
                    config.get("portal_version"),
                )
            return True
        return False

    async def _finish(self) -> None:
        """No new leases; let the probes in flight end (they hold their own deadline), then
        deliver what is buffered if the portal answers."""
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=60)
        if not self.exit_code and self.buffer:
            with contextlib.suppress(Unreachable, Refused, Rejected, TimeoutError):
                async with asyncio.timeout(10):
                    await self._deliver()

    async def _sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """`seconds`, or less when stopping (or `wake` is set)."""
        events = [self.stopping, *([wake] if wake else [])]
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(
                waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    # -- leasing ------------------------------------------------------------------------------

    def _went(self, offline: bool, why: str = "") -> None:
        if offline and not self.offline:
            self.stats.offline_since = datetime.now(UTC)
            log.warning(
                "The portal is unreachable (%s): probing on the last schedule, keeping results "
                "(up to %d) until it is back.",
                why,
                self.buffer.maxlen,
            )
        elif not offline and self.offline:
            log.info("The portal answers again; %d result(s) to deliver.", len(self.buffer))
            self.stats.offline_since = None
            self.portal_back.set()
        self.offline = offline

    async def _lease_loop(self) -> None:
        """A lease every `poll_s` while there is room; after the portal failed to answer, the
        next try 1 s later, doubling to 30 s, back to `poll_s` once it answers. Meanwhile the
        known schedules are probed alone every `poll_s`, whatever the backoff."""
        loop = asyncio.get_running_loop()
        delay, retry_at = 1.0, 0.0
        while not self.stopping.is_set():
            room = min(4 * self.capacity - self.ready, MAX_HELD - len(self.pending), MAX_LEASE)
            if room > 0 and loop.time() >= retry_at:
                try:
                    answer = await self.client.lease(room)
                except Rejected as exc:
                    self._fatal(exc)
                    return
                except Unreachable as exc:
                    self._went(True, str(exc))
                    log.info("No lease (%s); next try in %.0f s.", exc, delay)
                    retry_at = loop.time() + delay
                    delay = min(delay * 2, BACKOFF_MAX_S)
                except Refused as exc:
                    log.warning("The portal refused the lease request: %s", exc)
                else:
                    self._went(False)
                    delay, retry_at = 1.0, 0.0
                    for item in answer.get("items", []):
                        self._take(item)
            if self.offline:
                self._keep_probing_alone()
            await self._sleep(min(self.poll_s, max(0.0, retry_at - loop.time()) or self.poll_s))

    def _take(self, item: dict) -> None:
        slot = datetime.fromisoformat(item["slot"])
        interval = timedelta(seconds=max(1, int(item.get("interval_s") or 60)))
        self.known[item["schedule"]] = Known(item, slot + interval, interval)
        if item["schedule"] in self.pending:
            # Probed alone while the portal was away, for this very slot: that probe answers
            # the lease (no second probe of one slot).
            self.late_leases[(item["schedule"], slot.isoformat())] = item.get("lease")
            return
        self._schedule(item, slot, item.get("lease"))

    def _keep_probing_alone(self) -> None:
        """While the portal is away: each known schedule's next slot on its own grid."""
        horizon = datetime.now(UTC) + timedelta(seconds=self.poll_s + 1)
        for schedule_id, known in self.known.items():
            if schedule_id in self.pending or known.next_slot > horizon:
                continue
            slot = known.next_slot
            known.next_slot = slot + known.interval
            self._schedule(known.item, slot, None)

    def _schedule(self, item: dict, slot: datetime, lease: str | None) -> None:
        self.pending.add(item["schedule"])
        task = asyncio.create_task(self._probe(item, slot, lease))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _probe(self, item: dict, slot: datetime, lease: str | None) -> None:
        ready = False
        try:
            delay = (slot - datetime.now(UTC)).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            self.ready += 1
            ready = True
            try:
                # What to probe, clamped to the agent's own limits: a lease names no resolver
                # trust, CA bundle or network beyond this host's PORTAL_PROBE_ALLOWED_NETWORKS.
                target = ProbeTarget.from_json(
                    item["target"], secret=unseal(self.key, item.get("secret"))
                )
            except ValueError as exc:
                log.warning(
                    "Schedule %s: a target this agent cannot use (%s).", item.get("schedule"), exc
                )
                return
            async with self.semaphore:
                outcome = await probe(target, self.policy)
            self.stats.probes += 1
            if len(self.buffer) == self.buffer.maxlen:
                self.stats.dropped += 1  # the oldest goes (deque maxlen)
                if self.stats.dropped == 1 or self.stats.dropped % 1000 == 0:
                    log.warning(
                        "The buffer is full (%d): dropping the oldest results (%d so far).",
                        self.buffer.maxlen,
                        self.stats.dropped,
                    )
            lease = lease or self.late_leases.pop((item["schedule"], slot.isoformat()), None)
            self.buffer.append(
                {
                    "schedule": item["schedule"],
                    "endpoint": item["endpoint"],
                    "lease": lease,
                    "slot": slot.isoformat(),
                    "run": item.get("run") if lease else None,
                    "missing": item.get("missing"),
                    "outcome": outcome_as_json(outcome),
                }
            )
        except Exception:  # one target's trouble never stops the agent
            log.exception("Probing schedule %s failed unexpectedly", item.get("schedule"))
        finally:
            self.pending.discard(item["schedule"])
            self.ready -= ready

    # -- results and heartbeats ---------------------------------------------------------------

    async def _deliver(self) -> None:
        """Post the buffer, oldest first, up to MAX_POST a request. A batch leaves the buffer
        while it is in flight (new results keep their room) and goes back in front of them if
        the portal does not answer; a 4xx skips that batch only (counted as dropped)."""
        while self.buffer:
            batch = [self.buffer.popleft() for _ in range(min(MAX_POST, len(self.buffer)))]
            self.in_flight = len(batch)
            try:
                answer = await self.client.results(batch)
            except Refused as exc:
                self.stats.dropped += len(batch)
                log.warning(
                    "The portal refused a batch of %d result(s), dropped: %s", len(batch), exc
                )
                continue
            except BaseException:  # not answered (or stopping): kept for the next try
                self._put_back(batch)
                raise
            finally:
                self.in_flight = 0
            self.stats.delivered += answer.get("stored", 0)
            for rejected in answer.get("rejected", []):
                log.warning("The portal refused a result: %s", rejected.get("error"))

    def _put_back(self, batch: list[dict]) -> None:
        """A batch not delivered goes back before the newer results; past the buffer's bound
        its oldest are dropped (and counted), as a full buffer drops them."""
        room = self.buffer.maxlen - len(self.buffer)
        if len(batch) > room:
            self.stats.dropped += len(batch) - room
            batch = batch[len(batch) - room :]
        self.buffer.extendleft(reversed(batch))

    async def _results_loop(self) -> None:
        """Every second while results come; after the portal failed to answer, 1 s doubling to
        30 s (at once when the lease loop sees the portal back)."""
        wait, delay = 1.0, 1.0
        while not self.stopping.is_set():
            await self._sleep(wait, wake=self.portal_back)
            self.portal_back.clear()
            if not self.buffer:
                continue
            try:
                await self._deliver()
            except Rejected as exc:
                self._fatal(exc)
                return
            except Unreachable as exc:
                log.log(
                    logging.WARNING if delay == 1.0 else logging.INFO,  # once per outage
                    "Could not deliver %d result(s) (%s); keeping them, next try in %.0f s.",
                    len(self.buffer),
                    exc,
                    delay,
                )
                wait, delay = delay, min(delay * 2, BACKOFF_MAX_S)
            else:
                wait, delay = 1.0, 1.0

    async def _heartbeat_loop(self) -> None:
        while not self.stopping.is_set():
            await self._sleep(self.heartbeat_s)
            try:
                await self.client.heartbeat(
                    self.version, len(self.buffer) + self.in_flight, self.stats.dropped
                )
            except Rejected as exc:
                self._fatal(exc)
                return
            except (Unreachable, Refused):
                continue
