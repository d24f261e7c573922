"""Run the Model Studio / PAI-EAS simulator on 127.0.0.1 (see endpoints/devtools/simulator)."""

import asyncio
import contextlib
import gc
import json
import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from endpoints.devtools.simulator import Fault, SimState, Simulator
from endpoints.devtools.simulator.server import LOOPBACK

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Serve a local stand-in for Model Studio and PAI-EAS on 127.0.0.1."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8900, help="plain HTTP port (0: any)")
        parser.add_argument("--tls-port", type=int, default=None, help="HTTPS port (0: any)")
        parser.add_argument("--dns-port", type=int, default=None, help="UDP DNS port (0: any)")
        parser.add_argument(
            "--from-db",
            action="store_true",
            help="serve the portal's workspaces, keys and endpoints",
        )
        parser.add_argument(
            "--refresh", type=float, default=5, help="with --from-db: re-read every N seconds"
        )
        parser.add_argument("--config", help="JSON: workspaces, keys, catalog, faults, dns, ...")
        parser.add_argument(
            "--ca-out",
            default=str(settings.VAR_DIR / "simulator-ca.pem"),
            help="where to write the CA certificate clients should trust",
        )
        parser.add_argument("--latency-ms", type=float, default=0, help="latency for every request")

    def handle(self, *args, **options):
        config = {}
        if options["config"]:
            with open(options["config"]) as file:
                config = json.load(file)
        state = SimState()
        state.apply_config(config)
        if options["latency_ms"]:
            state.set_fault(fault=Fault(latency_ms=options["latency_ms"]))
        sim = Simulator(
            state,
            http_port=options["port"],
            tls_port=options["tls_port"],
            dns_port=options["dns_port"],
            ca_path=options["ca_out"],
        )
        sim.dns.apply_config(config.get("dns", {}))
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self.serve(sim, config, options["from_db"], options["refresh"]))

    async def serve(self, sim: Simulator, config: dict, from_db: bool, refresh: float):
        configured_names = {
            name.lower().rstrip(".")
            for kind in ("a", "cname")
            for name in config.get("dns", {}).get(kind, {})
        }

        def load():
            # In a worker thread: the event loop never waits on the database.
            try:
                world = sim.state.load_from_db()
            finally:
                connections.close_all()
            for host in world.host_regions.keys() - configured_names:
                sim.dns.set_a(host, [LOOPBACK])  # endpoint hosts resolve to the simulator

        if from_db:
            await asyncio.to_thread(load)
        await sim.start()
        # Long-lived objects (Django, the state) leave the collector's sight: full collections
        # would otherwise stall every response by several milliseconds now and then.
        gc.collect()
        gc.freeze()
        # SIGTERM (docker stop, honcho) ends the loop like Ctrl-C: connections are closed.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        ports = f"http {sim.http_port}, tls {sim.tls_port or 'off'}, dns {sim.dns_port or 'off'}"
        self.stdout.write(f"Model Studio simulator on {LOOPBACK}: {ports}; CA {sim.ca_path}")
        self.stdout.flush()
        try:
            while True:
                await asyncio.sleep(refresh if from_db else 3600)
                if from_db:
                    try:
                        await asyncio.to_thread(load)
                    except Exception:
                        logger.exception(
                            "simulator: reading the database failed; keeping the old state"
                        )
        except asyncio.CancelledError:
            pass
        finally:
            await sim.stop()
