"""Create the demo world for `make run` (idempotent) and print the logins."""

from django.core.management.base import BaseCommand

from endpoints.devtools.demo import DemoWorld


class Command(BaseCommand):
    help = "Create the demo world for `make run` (idempotent) and print the logins."

    def handle(self, **options):
        DemoWorld(self.stdout).seed()
