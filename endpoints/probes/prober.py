"""A worker process's prober: up to PORTAL_PROBE_CONCURRENCY probes in flight, refilled as
each one ends, and every result recorded within ~1 s of its probe ending.

The Celery task hands its leased batch to `submit()` and returns; it blocks only while the
prober is full (probes waiting for their slot, in flight, or not yet recorded), so a worker
takes new work from the broker as fast as it frees room, and one hanging endpoint holds one
slot for its deadline, nothing more. Two threads per process:

- the probing thread runs an asyncio loop: each probe waits for its slot, takes a place
  (the semaphore), probes, and queues its outcome;
- the recording thread flushes the queued outcomes at most FLUSH_S apart (or every
  MAX_BATCH), retrying across a lost database connection: outcomes are in memory, so they
  are recorded once the database answers again.

A process killed mid-probe loses its in-memory work; its leases run out and the dispatcher
gives those schedules to another prober (see dispatch.py).
"""

import asyncio
import logging
import os
import queue
import threading
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from endpoints.engine import probe

from .recorder import record_with_retry
from .runner import Work, policy

log = logging.getLogger(__name__)
FLUSH_S = 0.5
MAX_BATCH = 500
# Work held for a slot still to come costs a sleeping coroutine, not a place: it is bounded
# by the dispatcher's look-ahead (what falls due in the next dispatch period), and this caps
# it for memory's sake.
MAX_HELD = 20_000


class Prober:
    def __init__(self, capacity: int | None = None, record=record_with_retry):
        self.capacity = capacity or settings.PORTAL_PROBE_CONCURRENCY
        # Work whose slot has come (waiting for a place, in flight, or ended but not yet
        # recorded) is admitted up to four times the places. Work held for a slot still to
        # come does not count against it: at a few hundred probes a second a dispatch
        # period's look-ahead alone is more than that, and counting it starved the places.
        self.max_ready = self.capacity * 4
        self.max_held = MAX_HELD
        self._record = record
        self._policy = policy()
        self._pending = 0  # admitted and not yet recorded
        self._ready = 0  # of those, whose slot has come
        self._room = threading.Condition()
        self._results: queue.Queue = queue.Queue()
        self._closing = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._semaphore: asyncio.Semaphore | None = None
        self._prober = threading.Thread(target=self._run_loop, name="prober", daemon=True)
        self._recorder = threading.Thread(target=self._run_recorder, name="recorder", daemon=True)
        self._started = threading.Event()
        self._prober.start()
        self._recorder.start()
        self._started.wait(10)

    # -- the probing thread -------------------------------------------------------------------

    def _run_loop(self):
        asyncio.set_event_loop(self._loop)
        self._semaphore = asyncio.Semaphore(self.capacity)
        self._loop.call_soon(self._started.set)
        self._loop.run_forever()

    async def _probe(self, work: Work, ready: bool):
        try:
            if not ready:
                delay = (work.slot - datetime.now(UTC)).total_seconds()
                if delay > 0:
                    await asyncio.sleep(delay)
                with self._room:
                    self._ready += 1
                ready = True
            async with self._semaphore:
                outcome = await probe(work.target, self._policy)
        except Exception:  # never lose the slot to a bug: the lease would just run out
            log.exception("Probing endpoint %s failed unexpectedly", work.target.endpoint_id)
            self._release(1, ready=int(ready))
            return
        work.observation.outcome = outcome
        self._results.put(work.observation)

    def submit(self, works: list[Work], timeout: float | None = None) -> bool:
        """Take `works` once there is room for them (False: still full after `timeout`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._room:
            while self._pending and self._full(len(works)):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._room.wait(left if left is not None else 1.0)
            now = datetime.now(UTC)
            ready = [work.slot is None or work.slot <= now for work in works]
            self._pending += len(works)
            self._ready += sum(ready)  # counted now: the next submit sees them at once
        for work, is_ready in zip(works, ready, strict=True):
            asyncio.run_coroutine_threadsafe(self._probe(work, is_ready), self._loop)
        return True

    def _full(self, arriving: int) -> bool:
        return self._ready >= self.max_ready or self._pending + arriving > self.max_held

    def _release(self, count: int, ready: int | None = None):
        with self._room:
            self._pending -= count
            self._ready -= count if ready is None else ready
            self._room.notify_all()

    @property
    def pending(self) -> int:
        return self._pending

    # -- the recording thread -----------------------------------------------------------------

    def _run_recorder(self):
        while True:
            batch = self._collect()
            if batch:
                self._record_isolated(batch)
                self._release(len(batch))
            elif self._closing.is_set() and self._pending <= 0:
                connection.close()
                return

    def _record_isolated(self, batch: list) -> None:
        """Record the batch; if the database refuses it for a reason other than a lost
        connection (those are retried inside `record_with_retry`), record it one result at
        a time, so one result it refuses loses only itself."""
        try:
            self._record(batch)
            return
        except (OperationalError, InterfaceError):  # still unreachable after the retries
            log.exception(
                "Could not record %d probe result(s): the database did not come back; their "
                "leases will run out and the endpoints be probed again.",
                len(batch),
            )
            return
        except Exception:
            if len(batch) == 1:
                log.exception(
                    "Could not record the result of endpoint %s; its lease will run out and it "
                    "will be probed again.",
                    batch[0].endpoint_id,
                )
                return
            log.warning(
                "Could not record %d probe results together; recording them one by one.",
                len(batch),
                exc_info=True,
            )
        for observation in batch:
            self._record_isolated([observation])

    def _collect(self) -> list:
        """What ended in the last FLUSH_S (at most MAX_BATCH): wait for the first, then take
        whatever else arrives until the flush is due."""
        try:
            batch = [self._results.get(timeout=FLUSH_S)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + FLUSH_S
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._results.get_nowait())
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(0.05, left))
        return batch

    # -- shutting down --------------------------------------------------------------------------

    def close(self, wait_s: float | None = None) -> None:
        """Finish what was taken (probes end within their deadline), record it, stop."""
        if wait_s is None:
            wait_s = settings.PORTAL_PROBE_TIMEOUT_S + settings.PORTAL_DISPATCH_EVERY_S + 3
        self._closing.set()
        self._recorder.join(wait_s)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._prober.join(2)


_prober: Prober | None = None
_pid: int | None = None
_lock = threading.Lock()


def get_prober() -> Prober:
    """This process's prober, started on first use (after a prefork worker forked)."""
    global _prober, _pid
    with _lock:
        if _prober is None or _pid != os.getpid():
            _prober, _pid = Prober(), os.getpid()
        return _prober


def shutdown_prober() -> None:
    global _prober
    with _lock:
        if _prober is not None and _pid == os.getpid():
            _prober.close()
            _prober = None
