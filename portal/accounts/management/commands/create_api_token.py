"""Issue a personal API token; the token is the last line of the output."""

from django.core.management.base import BaseCommand, CommandError

from portal.accounts import services
from portal.accounts.models import User


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (shown once) as the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="What the token is for.")

    def handle(self, username, name, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}; create one with add_user first.")
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("Give the token a name of up to 100 characters.")
        _, plaintext = services.issue_token(user, name, actor=None, source="cli")
        self.stdout.write(
            f"Token '{name}' for {username} ({user.get_role_display()}); it is shown only once:"
        )
        self.stdout.write(plaintext)
