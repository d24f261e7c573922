"""End to end: the real processes on PostgreSQL and Redis, thousands of endpoints on a
schedule, some hanging and some slow: how much of the demanded probing is stored, and on time.

    python -m endpoints.devtools.bench.e2e --out docs/benchmarks.md

Processes (all on 127.0.0.1): Celery beat, the dispatcher's worker, a probe worker with two
processes, the Model Studio simulator (with its DNS), a redis-server of its own on a free
port, and a throw-away database on the local PostgreSQL (DATABASE_URL's server; dropped at
the end). Each endpoint is probed every `--interval` seconds; `--hanging` of them never
answer (each holds a probe for the whole deadline) and `--slow` answer after a second.

After a warm-up, over the measured window: stored probes per second against the demand, the
p50 and p95 of the gap between two probes of one endpoint, and the CPU each stored probe cost
the probe worker and the database. Then the demand is raised (more endpoints, same
interval) until less than 98 % of it is stored, to find the highest demand this machine
holds. Loopback only; every run is bounded in time and stops by itself.
"""

import argparse
import itertools
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TITLE = "End to end: scheduled probing on PostgreSQL and Redis"
HOST = "ep-e2e{:05d}.dashscope.cn-beijing.privatelink.aliyuncs.com"
WORKSPACE_ID = "llm-e2ebench01"
TARGET_STORED = 0.98
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pids) -> float:
    """utime + stime of these processes and their children, from /proc."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def descendants(pid: int) -> list[int]:
    out = subprocess.run(  # noqa: S603 - fixed arguments, a pid
        ["/usr/bin/ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    )
    children = [int(p) for p in out.stdout.split()]
    return [pid] + [d for c in children for d in descendants(c)]


def postgres_pids() -> list[int]:
    out = subprocess.run(["/usr/bin/pgrep", "-x", "postgres"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


class Bench:
    def __init__(self, args):
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
        self.processes: dict[str, subprocess.Popen] = {}
        base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        if not base.startswith("postgres"):
            raise SystemExit("the end-to-end benchmark runs on PostgreSQL: set DATABASE_URL")
        self.db_name = f"portal_bench_{os.getpid()}"
        self.server_url = base.rsplit("/", 1)[0]
        self.redis_port, self.http_port, self.dns_port = free_port(), free_port(), free_port()
        self.key = "sk-" + secrets.token_hex(16)
        self.env = {
            **os.environ,
            "DATABASE_URL": f"{self.server_url}/{self.db_name}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "PORTAL_VAR_DIR": str(self.workdir / "var"),
            "PORTAL_PROBE_ALLOWED_NETWORKS": "127.0.0.0/8",
            "PORTAL_PROBE_CONCURRENCY": str(args.concurrency),
            "PORTAL_PROBE_TIMEOUT_S": str(args.timeout),
            "PORTAL_DISPATCH_EVERY_S": str(args.dispatch_every),
            "PORTAL_PROBE_BATCH_SIZE": "50",
            "PORTAL_CELERY_QUEUE": "bench",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update(self.env)

    # -- set-up and tear-down -----------------------------------------------------------------

    def psql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{self.server_url}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def start(self, name, argv, env=None):
        log = open(self.workdir / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(  # noqa: S603 - our own programs, fixed arguments
            argv, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT
        )
        process.log = log
        self.processes[name] = process
        return process

    def stop(self, name):
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.log.close()

    def __enter__(self):
        if shutil.which("redis-server") is None:
            raise SystemExit("redis-server is not on the PATH")
        self.psql(f'CREATE DATABASE "{self.db_name}"')
        self.start(
            "redis",
            [
                *("redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port)),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return self

    def __exit__(self, *exc):
        for name in list(self.processes):
            self.stop(name)
        from django.db import connections

        connections.close_all()
        self.psql(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the world ----------------------------------------------------------------------------

    def seed(self, count: int) -> dict:
        """`count` endpoints of one workspace in one VPC, phases spread over the interval."""
        from django.utils import timezone

        from endpoints.network.models import Endpoint, Vpc
        from endpoints.probes.models import ProbeSchedule
        from portal.workspaces.models import ApiKey, Region, Workspace

        region = Region.objects.get(pk="cn-beijing")
        workspace, _ = Workspace.objects.get_or_create(
            slug="bench",
            defaults=dict(
                name="Bench", workspace_id=WORKSPACE_ID, region=region, scope="mainland",
                is_default=True, currency="CNY",
            ),
        )  # fmt: skip
        if not workspace.api_keys.exists():
            key = ApiKey(workspace=workspace, label="bench")
            key.set_secret(self.key)
            key.save()
        vpc, _ = Vpc.objects.get_or_create(
            vpc_id="vpc-bench0001",
            defaults=dict(
                name="bench", region=region, cidr="10.99.0.0/16",
                resolver=f"127.0.0.1:{self.dns_port}",
            ),
        )  # fmt: skip
        have = Endpoint.objects.count()
        rows = [
            Endpoint(
                name=f"e2e {n:05d}",
                kind="privatelink_default",
                url=f"http://{HOST.format(n)}:{self.http_port}",
                host=HOST.format(n),
                region=region,
                vpc=vpc,
                workspace=workspace,
                zones=["cn-beijing-a", "cn-beijing-b"],
                allows_80_443=True,
                interval_s=self.args.interval,
                latency_threshold_ms=5000,
            )
            for n in range(have, count)
        ]
        Endpoint.objects.bulk_create(rows, batch_size=2000)
        now = timezone.now()
        rng = random.Random(count)
        ProbeSchedule.objects.bulk_create(
            [
                ProbeSchedule(
                    endpoint=e,
                    location="central",
                    next_probe_at=now + timedelta(seconds=rng.uniform(0, self.args.interval)),
                )
                for e in Endpoint.objects.filter(schedules=None)
            ],
            batch_size=2000,
        )
        hosts = [HOST.format(n) for n in range(count)]
        rng = random.Random(7)
        hanging = set(rng.sample(hosts, int(count * self.args.hanging)))
        slow = set(rng.sample([h for h in hosts if h not in hanging], int(count * self.args.slow)))
        return {
            "catalog": {"cn-beijing": ["qwen-plus"]},
            "workspaces": [{"workspace_id": WORKSPACE_ID, "region": "cn-beijing"}],
            "keys": [{"key": self.key, "workspace_id": WORKSPACE_ID}],
            "dns": {"a": {h: ["127.0.0.1"] for h in hosts}},
            "faults": [{"host": h, "hang": True} for h in hanging]
            + [{"host": h, "latency_ms": 1000} for h in slow],
        }

    def start_processes(self, config: dict):
        (self.workdir / "sim.json").write_text(json.dumps(config))
        manage = [sys.executable, "manage.py"]
        self.start(
            "simulator",
            [
                *(*manage, "simulate_model_studio", "--port", str(self.http_port)),
                *("--dns-port", str(self.dns_port), "--config", str(self.workdir / "sim.json")),
                *("--ca-out", str(self.workdir / "ca.pem")),
            ],
        )
        celery = [sys.executable, "-m", "celery", "--app", "portal"]
        self.start(
            "dispatcher",
            [
                *(*celery, "worker", "--pool", "solo", "--queues", "bench-dispatch"),
                *("--hostname", "dispatch@%h", "--without-heartbeat", "--without-gossip"),
            ],
        )
        self.start(
            "worker",
            [
                *(*celery, "worker", "--concurrency", str(self.args.processes)),
                *("--queues", "bench", "--hostname", "probe@%h"),
                *("--without-heartbeat", "--without-gossip"),
            ],
        )
        self.start(
            "beat",
            [*celery, "beat", "--schedule", str(self.workdir / "beat-schedule")],
        )

    def restart_for(self, count: int):
        for name in ("beat", "worker", "dispatcher", "simulator"):
            if name in self.processes:
                self.stop(name)
        config = self.seed(count)
        from endpoints.probes.models import ProbeResult

        ProbeResult.objects.all().delete()
        self.start_processes(config)

    # -- measuring ----------------------------------------------------------------------------

    def measure(self, count: int, warmup: float, window: float) -> dict:
        from django.db import connection
        from django.utils import timezone

        from endpoints.probes.models import ProbeResult

        self.restart_for(count)
        time.sleep(warmup)
        groups = {
            name: (lambda pid=process.pid: descendants(pid))
            for name, process in self.processes.items()
        }
        groups["postgres"] = postgres_pids
        busy = machine_busy_seconds()
        before = {name: cpu_seconds(pids()) for name, pids in groups.items()}
        start = timezone.now()
        time.sleep(window)
        end = timezone.now()
        cores = {
            name: (cpu_seconds(pids()) - before[name]) / window for name, pids in groups.items()
        }
        cores["machine"] = (machine_busy_seconds() - busy) / window
        time.sleep(self.args.timeout + 3)  # the probes started in the window, all recorded
        stored = ProbeResult.objects.filter(started_at__gte=start, started_at__lt=end)
        n = stored.count()
        times: dict[int, list] = {}
        for endpoint_id, started in stored.order_by("endpoint_id", "started_at").values_list(
            "endpoint_id", "started_at"
        ):
            times.setdefault(endpoint_id, []).append(started)
        gaps = sorted(
            (b - a).total_seconds()
            for series in times.values()
            for a, b in itertools.pairwise(series)
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size('probes_proberesult')")
            table_bytes = cursor.fetchone()[0]
        total_rows = ProbeResult.objects.count()
        seconds = (end - start).total_seconds()
        demanded = count / self.args.interval
        return {
            "endpoints": count,
            "demanded": demanded,
            "stored": n / seconds,
            "share": (n / seconds) / demanded,
            "gap_p50": statistics.median(gaps) if gaps else None,
            "gap_p95": gaps[int(0.95 * (len(gaps) - 1))] if gaps else None,
            "never": count - len(times),
            "cpu_worker_ms": 1000 * cores["worker"] * window / max(n, 1),
            "cpu_db_ms": 1000 * cores["postgres"] * window / max(n, 1),
            "bytes_per_row": table_bytes / max(total_rows, 1),
            "cores": {name: round(used, 2) for name, used in sorted(cores.items())},
        }


def report(args, main: dict, levels: list[dict]) -> str:
    def row(r):
        ok = r["share"] >= TARGET_STORED
        return (
            f"| {r['endpoints']:,} | {r['demanded']:.0f} | {r['stored']:.0f} | {100 * r['share']:.1f} % "
            f"| {r['gap_p50']:.1f} s | {r['gap_p95']:.1f} s | {r['never']} | {r['cpu_worker_ms']:.2f} ms "
            f"| {r['cpu_db_ms']:.2f} ms | {'held' if ok else 'short'} |"
        )

    held = [r for r in [main, *levels] if r["share"] >= TARGET_STORED]
    best = max(held, key=lambda r: r["demanded"]) if held else None
    gap_ok = main["gap_p95"] is not None and main["gap_p95"] <= args.interval + 3
    lines = [
        f"## {TITLE}",
        "",
        f"`python -m endpoints.devtools.bench.e2e` (`make bench`) on {time.strftime('%Y-%m-%d')}: "
        f"beat, the dispatcher's worker, a probe worker with {args.processes} processes "
        f"(PORTAL_PROBE_CONCURRENCY={args.concurrency} each), PostgreSQL, a redis-server and the "
        f"simulator, all on this machine ({os.cpu_count()} cores, Python {platform.python_version()}). "
        f"Every endpoint every {args.interval} s; {100 * args.hanging:g} % hang (held for the "
        f"{args.timeout:g} s deadline), {100 * args.slow:g} % answer after 1 s. Measured over "
        f"{args.window:.0f} s after a {args.warmup:.0f} s warm-up.",
        "",
        "| Endpoints | Demanded /s | Stored /s | Stored | Gap p50 | Gap p95 | Never probed | Worker CPU / probe | DB CPU / probe | |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        row(main),
        *(row(r) for r in levels),
        "",
        f"- Targets: at least {100 * TARGET_STORED:.0f} % of the demand stored "
        f"({'PASS' if main['share'] >= TARGET_STORED else 'FAIL'}: {100 * main['share']:.1f} %), "
        f"p95 gap at most the interval + 3 s ({'PASS' if gap_ok else 'FAIL'}: "
        f"{main['gap_p95']:.1f} s), the highest demand held at least 500 probes/s "
        f"({'PASS' if best and best['demanded'] >= 500 else 'FAIL'}: "
        f"{best['demanded']:.0f} probes/s)."
        if best
        else "- No level held.",
        f"- A stored result costs {main['bytes_per_row']:.0f} bytes of table, indexes and TOAST "
        "(pg_total_relation_size over the rows stored).",
        "- The database CPU is every PostgreSQL process of this machine over the window.",
        "- Cores used over the window, by process: "
        + "; ".join(
            f"{r['endpoints']:,} endpoints: "
            + ", ".join(f"{name} {used:.2f}" for name, used in r["cores"].items())
            for r in [main, *levels]
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=3000)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--hanging", type=float, default=0.02)
    parser.add_argument("--slow", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--dispatch-every", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=120.0)
    parser.add_argument(
        "--levels",
        default="4000,5000,6000",
        help="endpoint counts tried after the main run, until one falls short",
    )
    parser.add_argument("--level-window", type=float, default=120.0)
    parser.add_argument("--out", help="write the section into this Markdown file")
    args = parser.parse_args(argv)
    with Bench(args) as bench:
        main_row = bench.measure(args.endpoints, args.warmup, args.window)
        print(main_row, flush=True)
        levels = []
        for count in [int(c) for c in args.levels.split(",") if c.strip()]:
            row = bench.measure(count, args.warmup, args.level_window)
            print(row, flush=True)
            levels.append(row)
            if row["share"] < TARGET_STORED:
                break
    text = report(args, main_row, levels)
    print(text)
    if args.out:
        from .report import write_section

        write_section(args.out, TITLE, text)
    return 0 if main_row["share"] >= TARGET_STORED else 1


if __name__ == "__main__":
    sys.exit(main())
