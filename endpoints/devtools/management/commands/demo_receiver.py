"""Run the demo's webhook receiver on 127.0.0.1 (see endpoints/devtools/receiver.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand

from endpoints.devtools.receiver import LOOPBACK, serve


class Command(BaseCommand):
    help = "Serve the demo webhook receiver on 127.0.0.1 (checks X-Portal-Signature)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8990)
        parser.add_argument("--secret-file", required=True, help="the channel's signing secret")

    def handle(self, port, secret_file, **options):
        server = serve(port, Path(secret_file).read_text().strip())
        self.stdout.write(f"Demo webhook receiver on http://{LOOPBACK}:{server.server_port}/")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
