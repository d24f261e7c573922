"""Benchmark the probe engine against the local simulator, with a bare httpx loop as the floor.

    PORTAL_PROBE_ALLOWED_NETWORKS=127.0.0.0/8 python -m endpoints.devtools.bench.engine --out docs/benchmarks.md

Loopback only: the simulator (endpoints/simulator) runs in a child process on 127.0.0.1 and
every target's host is overridden to 127.0.0.1; the benchmark refuses to run with an egress
policy wider than 127.0.0.0/8. No Django database is involved: the engine and the simulator
are plain Python.

One warm-up round of each, then N rounds alternating engine, floor and reference. Each round
probes every target once: the engine with `probe_many()`, the floor with one shared
`httpx.AsyncClient` whose pool keeps no connection alive (each request opens its own TCP
connection, as each probe does), the reference (not a target) with raw asyncio sockets and no
HTTP parsing. Wall time gives probes/s; process CPU time gives CPU per probe; each probe's
time to first byte minus the injected latency gives the measurement error. The median round
(by wall time) is reported, with the spread over rounds, then one engine round at each
`--sweep` concurrency. The exit code is 1 when a target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import ipaddress
import math
import multiprocessing
import os
import platform
import re
import secrets
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
LOOPBACK_NET = ipaddress.ip_network("127.0.0.0/8")
WORKSPACE = "llm-bench"
REGION = "cn-beijing"
HOST_PATTERN = "ep-bench{:04d}.dashscope.cn-beijing.privatelink.aliyuncs.com"
FAULT_HOSTS = "*.privatelink.aliyuncs.com"
MODELS_PATH = "/compatible-mode/v1/models"

SECTION = "## Probe engine: thousands of endpoints against the simulator"

# The targets the issue sets.
TARGET_PROBES_PER_S = 300.0
TARGET_RATIO = 1.5
TARGET_MEDIAN_ERROR_MS = 2.0


# -- the simulator, in its own process ---------------------------------------------------------


def _serve_simulator(pipe, key: str, latency_ms: float, port: int, cpu: int | None) -> None:
    """Child process: serve the simulator on 127.0.0.1 until SIGTERM; send its port first.

    On "stats" from the pipe it answers with its CPU time and, for each request answered
    since the last call, how long it held the answer beyond the injected latency (from the
    request parsed to the response written): the simulator's own share of the error.
    """
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    from endpoints.devtools.simulator import Fault, SimState, Simulator

    state = SimState()
    state.add_workspace(WORKSPACE, REGION, is_default=True)
    state.add_key(key, WORKSPACE)
    state.set_fault(FAULT_HOSTS, None, Fault(latency_ms=latency_ms, jitter_ms=0))
    held_ms: list[float] = []

    async def serve():
        with tempfile.TemporaryDirectory(prefix="bench-simulator-") as workdir:
            sim = Simulator(state, http_port=port, tls_port=None, dns_port=None, workdir=workdir)
            respond = sim._respond

            async def timed_respond(*args):
                t0 = time.perf_counter()
                try:
                    return await respond(*args)
                finally:
                    held_ms.append((time.perf_counter() - t0) * 1000 - latency_ms)

            sim._respond = timed_respond  # this instance only
            await sim.start()
            # As the management command does: keep long-lived objects out of full collections.
            gc.collect()
            gc.freeze()
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            loop.add_signal_handler(signal.SIGTERM, stop.set)

            def on_command():
                try:
                    pipe.recv()
                except EOFError:
                    loop.remove_reader(pipe.fileno())
                    stop.set()
                    return
                pipe.send((time.process_time(), held_ms[:]))
                held_ms.clear()

            loop.add_reader(pipe.fileno(), on_command)
            pipe.send(sim.http_port)
            await stop.wait()
            loop.remove_reader(pipe.fileno())
            await sim.stop()

    asyncio.run(serve())


class SimulatorProcess:
    def __init__(self, key: str, latency_ms: float, port: int = 0, cpu: int | None = None):
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_serve_simulator,
            args=(child, key, latency_ms, port, cpu),
            name="bench-simulator",
            daemon=True,
        )
        self._child = child
        self.port: int | None = None

    def __enter__(self) -> SimulatorProcess:
        self.process.start()
        self._child.close()
        try:
            if not self._pipe.poll(60):
                raise RuntimeError("the simulator did not start within 60 s")
            self.port = self._pipe.recv()
        except (EOFError, RuntimeError):
            self.__exit__()
            raise RuntimeError(
                f"the simulator did not start (exit code {self.process.exitcode})"
            ) from None
        return self

    def stats(self) -> tuple[float, list[float]]:
        """(CPU seconds so far, ms held beyond the latency per request since the last call)."""
        self._pipe.send("stats")
        return self._pipe.recv()

    def __exit__(self, *exc) -> None:
        if self.process.is_alive():
            self.process.terminate()  # SIGTERM: the child closes its listeners
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._pipe.close()


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (all processes, /proc/stat)."""
    try:
        with open("/proc/stat") as file:
            fields = file.readline().split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def settle(max_wait_s: float, threshold: float = 0.25) -> float:
    """Wait (up to max_wait_s) until the rest of the machine uses under `threshold` CPUs.

    This is a shared machine: a test run elsewhere takes a core and skews a round. Returns
    the seconds waited.
    """
    waited = 0.0
    while True:
        busy0, own0 = _busy_cpu_s(), time.process_time()
        await asyncio.sleep(0.5)
        other = (_busy_cpu_s() - busy0 - (time.process_time() - own0)) / 0.5
        if other < threshold or waited >= max_wait_s:
            return waited
        waited += 0.5


class Meter:
    """Wall, this process's CPU, the simulator's CPU and everyone else's CPU over a block."""

    def __init__(self, sim: SimulatorProcess | None):
        self.sim = sim

    def __enter__(self) -> Meter:
        if self.sim is not None:
            self._sim_cpu0 = self.sim.stats()[0]  # also clears the simulator's samples
        self._busy0 = _busy_cpu_s()
        self._cpu0, self._t0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s = time.perf_counter() - self._t0
        self.cpu_s = time.process_time() - self._cpu0
        busy = _busy_cpu_s() - self._busy0
        self.sim_cpu_s, self.sim_held_ms = 0.0, []
        if self.sim is not None:
            sim_cpu, self.sim_held_ms = self.sim.stats()
            self.sim_cpu_s = sim_cpu - self._sim_cpu0
        # /proc/stat ticks are coarse (10 ms): a rough figure, never below zero.
        self.other_cpu_s = max(0.0, busy - self.cpu_s - self.sim_cpu_s)


# -- the contenders -----------------------------------------------------------------------------


@dataclass
class Round:
    name: str
    n: int
    latency_ms: float
    wall_s: float
    cpu_s: float
    ttfb_ms: list[float]  # per successful probe: time to first byte
    failures: dict[str, int] = field(default_factory=dict)  # what was not up/ok (or 200)
    sim_cpu_s: float = 0.0
    sim_held_ms: list[float] = field(default_factory=list)  # simulator: beyond the latency
    other_cpu_s: float = 0.0

    @classmethod
    def measured(cls, name, n, latency_ms, meter: Meter, ttfb, failures) -> Round:
        return cls(
            name,
            n,
            latency_ms,
            meter.wall_s,
            meter.cpu_s,
            ttfb,
            failures,
            meter.sim_cpu_s,
            meter.sim_held_ms,
            meter.other_cpu_s,
        )

    @property
    def probes_per_s(self) -> float:
        return self.n / self.wall_s

    @property
    def cpu_ms_per_probe(self) -> float:
        return self.cpu_s * 1000 / self.n

    @property
    def errors(self) -> list[float]:
        return [t - self.latency_ms for t in self.ttfb_ms]

    @property
    def median_error_ms(self) -> float:
        return statistics.median(self.errors) if self.ttfb_ms else float("nan")

    @property
    def p95_error_ms(self) -> float:
        return _percentile(self.errors, 95) if self.ttfb_ms else float("nan")

    @property
    def sim_held_median_ms(self) -> float:
        return statistics.median(self.sim_held_ms) if self.sim_held_ms else float("nan")

    @property
    def sim_cpu_ms_per_request(self) -> float:
        return self.sim_cpu_s * 1000 / self.n

    @property
    def other_cpus(self) -> float:
        """Other processes' (and interrupts') CPU during the round, in cores."""
        return self.other_cpu_s / self.wall_s


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[rank]  # nearest rank


async def engine_round(targets, sim, concurrency: int, latency_ms: float) -> Round:
    from endpoints.engine import EgressPolicy, probe_many

    policy = EgressPolicy.from_env()
    gc.collect()
    with Meter(sim) as meter:
        outcomes = await probe_many(targets, concurrency, policy)
    ttfb, failures = [], {}
    for outcome in outcomes:
        if (outcome.status, outcome.diagnosis) == ("up", "ok"):
            ttfb.append(outcome.phases.processing_ms)
        else:
            label = f"{outcome.status}/{outcome.diagnosis}"
            failures[label] = failures.get(label, 0) + 1
    return Round.measured("engine", len(targets), latency_ms, meter, ttfb, failures)


async def floor_round(targets, sim, key: str, concurrency: int, latency_ms: float) -> Round:
    """The same requests through one shared httpx client, a fresh connection each."""
    import httpx

    limits = httpx.Limits(max_keepalive_connections=0, max_connections=concurrency)
    url = f"http://{LOOPBACK}:{sim.port}{MODELS_PATH}"
    semaphore = asyncio.Semaphore(concurrency)
    ttfb: list[float] = []
    failures: dict[str, int] = {}

    async def one(client, host):
        marks = {}

        async def trace(event, info):
            # From the request written to the response head parsed: httpx's time to first byte.
            if event in (
                "http11.send_request_body.complete",
                "http11.receive_response_headers.complete",
            ):
                marks[event] = time.perf_counter()

        async with semaphore:
            try:
                response = await client.get(
                    url,
                    headers={
                        "Host": f"{host}:{sim.port}",  # as the engine sends it
                        "Accept": "application/json",
                        "Authorization": f"Bearer {key}",
                    },
                    extensions={"trace": trace},
                )
            except httpx.HTTPError as exc:
                label = type(exc).__name__
                failures[label] = failures.get(label, 0) + 1
                return
        if response.status_code == 200:
            sent = marks["http11.send_request_body.complete"]
            ttfb.append((marks["http11.receive_response_headers.complete"] - sent) * 1000)
        else:
            label = f"HTTP {response.status_code}"
            failures[label] = failures.get(label, 0) + 1

    hosts = [urlsplit(t.url).hostname for t in targets]
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
        gc.collect()
        with Meter(sim) as meter:
            await asyncio.gather(*(one(client, host) for host in hosts))
    return Round.measured("floor", len(targets), latency_ms, meter, ttfb, failures)


class _RawProbe(asyncio.Protocol):
    """The thinnest client asyncio allows: write the request, note the first byte, no parsing."""

    def __init__(self, request: bytes, done: asyncio.Future):
        self.request, self.done = request, done
        self.sent = self.first = None
        self.head = b""

    def connection_made(self, transport):
        transport.write(self.request)
        self.sent = time.perf_counter()

    def data_received(self, data: bytes) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        if len(self.head) < 16:
            self.head += data[:16]

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(exc)


async def raw_round(targets, sim, key: str, concurrency: int, latency_ms: float) -> Round:
    """Reference only: the same bytes over raw asyncio sockets (the setup's own limit)."""
    loop = asyncio.get_running_loop()
    semaphore = asyncio.Semaphore(concurrency)
    ttfb: list[float] = []
    failures: dict[str, int] = {}

    async def one(host):
        request = (
            f"GET {MODELS_PATH} HTTP/1.1\r\nHost: {host}:{sim.port}\r\n"
            f"Accept: application/json\r\nAuthorization: Bearer {key}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        async with semaphore:
            done = loop.create_future()
            transport = None
            try:
                async with asyncio.timeout(10):
                    transport, protocol = await loop.create_connection(
                        lambda: _RawProbe(request, done), LOOPBACK, sim.port
                    )
                    await done
            except (OSError, TimeoutError) as exc:
                if transport is not None:
                    transport.abort()
                label = type(exc).__name__
                failures[label] = failures.get(label, 0) + 1
                return
        if protocol.head.startswith(b"HTTP/1.1 200 ") and protocol.first is not None:
            ttfb.append((protocol.first - protocol.sent) * 1000)
        else:
            label = protocol.head[:12].decode(errors="replace") or "no answer"
            failures[label] = failures.get(label, 0) + 1

    hosts = [urlsplit(t.url).hostname for t in targets]
    gc.collect()
    with Meter(sim) as meter:
        await asyncio.gather(*(one(host) for host in hosts))
    return Round.measured("raw", len(targets), latency_ms, meter, ttfb, failures)


# -- the run ------------------------------------------------------------------------------------


def check_loopback_only() -> None:
    """Refuse to run unless the egress policy allows loopback and nothing else."""
    os.environ.setdefault("PORTAL_PROBE_ALLOWED_NETWORKS", str(LOOPBACK_NET))
    from endpoints.engine import EgressPolicy

    networks = EgressPolicy.from_env().networks
    if not networks or any(n.version != 4 or not n.subnet_of(LOOPBACK_NET) for n in networks):
        sys.exit(
            "endpoints.devtools.bench.engine: PORTAL_PROBE_ALLOWED_NETWORKS must be within 127.0.0.0/8 "
            f"(it is {os.environ['PORTAL_PROBE_ALLOWED_NETWORKS']!r})"
        )


def build_targets(n: int, port: int, key: str):
    from endpoints.engine import ProbeTarget

    targets = []
    for i in range(1, n + 1):
        host = HOST_PATTERN.format(i)
        targets.append(
            ProbeTarget(
                url=f"http://{host}:{port}",
                kind="privatelink_default",
                api_style="openai",
                secret=key,
                host_overrides={host: LOOPBACK},
                timeout_s=10.0,
                connect_timeout_s=5.0,
                endpoint_id=i,
            )
        )
    return targets


def machine_facts() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "CPU": model,
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": f"{platform.system()} {platform.release()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def median_round(rounds: list[Round]) -> Round:
    return sorted(rounds, key=lambda r: r.wall_s)[len(rounds) // 2]


def _line(label: str, r: Round) -> str:
    text = (
        f"  {label:>11} {r.name:6} {r.probes_per_s:7.1f} probes/s  "
        f"{r.cpu_ms_per_probe:5.2f} CPU ms/probe  error median {r.median_error_ms:+6.2f} ms "
        f"p95 {r.p95_error_ms:+6.2f} ms  (simulator held {r.sim_held_median_ms:+.2f} ms, "
        f"{r.sim_cpu_ms_per_request:.2f} CPU ms/request; other load {r.other_cpus:.2f} CPU)"
    )
    return text + (f"  NOT OK: {r.failures}" if r.failures else "")


@dataclass
class Results:
    engine: list[Round]
    floor: list[Round]
    raw: list[Round]
    sweep: list[tuple[int, Round]]


async def run_rounds(args, sim: SimulatorProcess, key: str) -> Results:
    targets = build_targets(args.endpoints, sim.port, key)
    results = Results([], [], [], [])
    contenders = [
        (results.engine, lambda: engine_round(targets, sim, args.concurrency, args.latency_ms)),
        (results.floor, lambda: floor_round(targets, sim, key, args.concurrency, args.latency_ms)),
    ]
    if args.raw:
        contenders.append(
            (results.raw, lambda: raw_round(targets, sim, key, args.concurrency, args.latency_ms))
        )
    for i in range(args.rounds + 1):
        label = "warm-up" if i == 0 else f"round {i}/{args.rounds}"
        for rounds, run in contenders:
            if i and args.settle:
                await settle(args.settle)
            r = await run()
            print(_line(label, r), flush=True)
            if i:
                rounds.append(r)
    for concurrency in args.sweep:
        if args.settle:
            await settle(args.settle)
        r = await engine_round(targets, sim, concurrency, args.latency_ms)
        print(_line(f"sweep c={concurrency}", r), flush=True)
        results.sweep.append((concurrency, r))
    return results


def evaluate(results: Results) -> tuple[Round, Round, float, list]:
    e, f = median_round(results.engine), median_round(results.floor)
    ratio = e.wall_s / f.wall_s
    failures = sum(sum(r.failures.values()) for r in results.engine)
    checks = [
        (
            f"at least {TARGET_PROBES_PER_S:g} probes/s",
            f"{e.probes_per_s:.0f} probes/s",
            e.probes_per_s >= TARGET_PROBES_PER_S,
        ),
        (
            f"within {TARGET_RATIO:g}x of the bare httpx loop (wall time)",
            f"{ratio:.2f}x",
            ratio <= TARGET_RATIO,
        ),
        (
            f"median processing error under {TARGET_MEDIAN_ERROR_MS:g} ms",
            f"{e.median_error_ms:+.2f} ms",
            abs(e.median_error_ms) < TARGET_MEDIAN_ERROR_MS,
        ),
        (
            "every engine probe up/ok (all rounds)",
            f"{failures} not up/ok" if failures else "all up/ok",
            failures == 0,
        ),
    ]
    return e, f, ratio, checks


def _spread(rounds: list[Round], value, fmt: str = ".0f") -> str:
    values = [value(r) for r in rounds]
    return f"{min(values):{fmt}} to {max(values):{fmt}}"


def render(args, facts, results: Results, ratio, checks, command: str) -> str:
    contenders = [
        ("engine (`probe_many`)", results.engine),
        ("floor (bare httpx)", results.floor),
    ]
    if results.raw:
        contenders.append(("reference: raw asyncio sockets", results.raw))
    lines = [
        SECTION,
        "",
        "Generated by `python -m endpoints.devtools.bench.engine` (`make bench`), which rewrites this section "
        "and keeps the others.",
        "",
        "### What was measured, and how",
        "",
        f"{args.endpoints:,} distinct PrivateLink default-domain endpoints "
        "(`ep-benchNNNN.dashscope.cn-beijing.privatelink.aliyuncs.com`, plain HTTP, OpenAI style, "
        "a valid key), each resolved through a static host override to 127.0.0.1, where the "
        "Model Studio simulator (`endpoints/simulator`) runs in a separate process and answers "
        f"`GET {MODELS_PATH}` after an injected {args.latency_ms:g} ms latency with zero jitter. "
        f"The engine probes them all with `probe_many(targets, concurrency={args.concurrency})` "
        "in one process: every probe resolves, opens its own TCP connection, sends one h11 "
        "request and reads the answer, with every phase timed. The floor is the least the same "
        "work costs with a standard Python client: one shared `httpx.AsyncClient` with "
        "`max_keepalive_connections=0` (a fresh connection per request, as each probe opens its "
        f"own), {args.concurrency} at a time behind a semaphore, the same request with the same "
        "Host and Authorization headers. The reference row (not a target) sends the same bytes "
        "over raw asyncio sockets with no HTTP parsing at all: about the least error an asyncio "
        "client can see against this simulator at this concurrency. One warm-up round of "
        f"each, then {args.rounds} rounds alternating them; the tables show the median round by "
        "wall time, with the range over rounds. probes/s is targets / wall time; CPU is the "
        "benchmark process's CPU time (`time.process_time()`, user + system; the simulator's "
        "is counted apart) / targets; the processing error is each probe's time to first byte "
        "(`phases.processing_ms`, which the engine stamps when the first byte reaches the "
        "process, in the event loop's read callback; for httpx, request written to response "
        "head parsed, from its "
        "trace extension; for raw sockets, request written to first byte received) minus the "
        f'injected {args.latency_ms:g} ms. "Simulator held" is the simulator\'s own lateness: '
        'from the request parsed to the response written, minus the latency. "Other load" '
        "is the CPU the rest of the machine used meanwhile (other processes, interrupts). Only "
        "loopback is used (`PORTAL_PROBE_ALLOWED_NETWORKS=127.0.0.0/8`).",
        "",
        "### Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in facts.items()),
        f"| command | `{command}` |",
        "",
        f"### Results (median round, concurrency {args.concurrency})",
        "",
        "| | probes/s | CPU ms/probe | median error | p95 error | wall time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, rounds in contenders:
        r = median_round(rounds)
        lines.append(
            f"| {name} | {r.probes_per_s:.0f} | {r.cpu_ms_per_probe:.2f} | "
            f"{r.median_error_ms:+.2f} ms | {r.p95_error_ms:+.2f} ms | {r.wall_s:.2f} s |"
        )
    per_round = ", ".join(
        f"{a.wall_s / b.wall_s:.2f}" for a, b in zip(results.engine, results.floor, strict=True)
    )
    lines += [
        "",
        f"Engine / floor wall time: **{ratio:.2f}x** (per round: {per_round}).",
        "",
        "Over all rounds, and what else ran during the median round:",
        "",
        "| | probes/s, all rounds | median error, all rounds | simulator held (median) | "
        "simulator CPU ms/request | other load |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, rounds in contenders:
        r = median_round(rounds)
        lines.append(
            f"| {name} | {_spread(rounds, lambda x: x.probes_per_s)} | "
            f"{_spread(rounds, lambda x: x.median_error_ms, '+.2f')} ms | "
            f"{r.sim_held_median_ms:+.2f} ms | {r.sim_cpu_ms_per_request:.2f} | "
            f"{r.other_cpus:.2f} CPU |"
        )
    if results.sweep:
        lines += [
            "",
            "### The engine at other concurrencies (one round each)",
            "",
            "The more probes run at once, the busier both event loops (the simulator's and the "
            "engine's), and the longer an answer waits in each before it is timed.",
            "",
            "| concurrency | probes/s | CPU ms/probe | median error | p95 error | "
            "simulator held | other load |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for concurrency, r in results.sweep:
            lines.append(
                f"| {concurrency} | {r.probes_per_s:.0f} | {r.cpu_ms_per_probe:.2f} | "
                f"{r.median_error_ms:+.2f} ms | {r.p95_error_ms:+.2f} ms | "
                f"{r.sim_held_median_ms:+.2f} ms | {r.other_cpus:.2f} CPU |"
            )
    lines += [
        "",
        f"### Targets (concurrency {args.concurrency})",
        "",
        "| target | measured | result |",
        "|---|---|---|",
        *(f"| {name} | {value} | {'PASS' if ok else 'FAIL'} |" for name, value, ok in checks),
    ]
    lines += _reading(results, checks)
    not_ok: dict[tuple[str, str], int] = {}
    for r in results.engine + results.floor + results.raw + [r for _, r in results.sweep]:
        for label, count in r.failures.items():
            not_ok[(r.name, label)] = not_ok.get((r.name, label), 0) + count
    if not_ok:
        lines += ["", "Probes that did not succeed (all rounds):", ""]
        lines += [f"- {name}: {label} x {count}" for (name, label), count in not_ok.items()]
    return "\n".join(lines) + "\n"


def _reading(results: Results, checks) -> list[str]:
    """Facts that help read a failed error target (no verdicts beyond the numbers)."""
    error_ok = checks[2][2]
    if error_ok:
        return []
    e = median_round(results.engine)
    facts = [f"the engine's median error is {e.median_error_ms:+.2f} ms"]
    if results.raw:
        raw = median_round(results.raw)
        facts.append(
            f"raw sockets, with no HTTP parsing, see {raw.median_error_ms:+.2f} ms at the same "
            f"concurrency ({raw.probes_per_s:.0f} probes/s)"
        )
    facts.append(f"the simulator itself answers {e.sim_held_median_ms:+.2f} ms late")
    if e.other_cpus >= 0.25:
        facts.append(f"other processes used {e.other_cpus:.2f} CPU during the median round")
    passing = [
        (c, r)
        for c, r in results.sweep
        if abs(r.median_error_ms) < TARGET_MEDIAN_ERROR_MS and r.probes_per_s >= TARGET_PROBES_PER_S
    ]
    if passing:
        c, r = max(passing, key=lambda item: item[1].probes_per_s)
        facts.append(
            f"at concurrency {c} the engine does {r.probes_per_s:.0f} probes/s with a median "
            f"error of {r.median_error_ms:+.2f} ms"
        )
    return ["", "Reading the failed error target: " + "; ".join(facts) + "."]


def write_section(path: Path, section: str) -> None:
    """Put this benchmark's section first in the document, keeping the other sections."""
    existing = path.read_text() if path.exists() else ""
    head, *parts = re.split(r"(?m)^(?=## )", existing)
    others = [part.strip() for part in parts if not part.startswith(SECTION)]
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = [head.strip() or "# Benchmarks", section.strip(), *others]
    path.write_text("\n\n".join(blocks) + "\n")


def _concurrencies(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of numbers") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("each concurrency must be at least 1")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m endpoints.devtools.bench.engine", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", help="write the Markdown report here (e.g. docs/benchmarks.md)")
    parser.add_argument("--endpoints", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    # 50, the production default (PORTAL_PROBE_CONCURRENCY): on 2 cores shared with the
    # simulator, 100 in flight saturates both event loops and the timing error grows.
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--sweep",
        type=_concurrencies,
        default=[10, 25, 100],
        help="also run the engine once at each of these concurrencies (comma-separated; '' for none)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=30.0,
        metavar="S",
        help="before each round, wait up to S seconds for other processes to go quiet (0: don't)",
    )
    parser.add_argument(
        "--no-raw", dest="raw", action="store_false", help="skip the raw-socket reference rounds"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the simulator to one CPU and this process to another",
    )
    args = parser.parse_args(argv)
    if args.endpoints < 1 or args.rounds < 1 or args.concurrency < 1:
        parser.error("--endpoints, --rounds and --concurrency must be at least 1")
    check_loopback_only()

    cpus = sorted(os.sched_getaffinity(0))
    sim_cpu = cpus[0] if args.pin and len(cpus) > 1 else None
    if sim_cpu is not None:
        os.sched_setaffinity(0, set(cpus[1:]))
    key = "sk-" + secrets.token_hex(16)
    facts = machine_facts()
    if sim_cpu is not None:
        facts["pinning"] = f"simulator on CPU {sim_cpu}, benchmark on CPU {cpus[1:]}"
    print(
        f"Probing {args.endpoints} endpoints, {args.latency_ms:g} ms injected latency, "
        f"{args.concurrency} concurrent, {args.rounds} rounds (+ warm-up)",
        flush=True,
    )
    with SimulatorProcess(key, args.latency_ms, cpu=sim_cpu) as sim:
        results = asyncio.run(run_rounds(args, sim, key))

    e, f, ratio, checks = evaluate(results)
    for r, rounds in ((e, results.engine), (f, results.floor)):
        print(
            f"{r.name:6} {r.probes_per_s:.0f} probes/s "
            f"({_spread(rounds, lambda x: x.probes_per_s)}), "
            f"{r.cpu_ms_per_probe:.2f} CPU ms/probe, error median {r.median_error_ms:+.2f} ms, "
            f"p95 {r.p95_error_ms:+.2f} ms"
        )
    print(f"engine/floor wall time {ratio:.2f}x")
    for name, value, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {value}")
    if args.out:
        command = "python -m endpoints.devtools.bench.engine " + " ".join(
            sys.argv[1:] if argv is None else argv
        )
        write_section(Path(args.out), render(args, facts, results, ratio, checks, command.strip()))
        print(f"wrote {args.out}")
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
