"""Create (or update) a portal user with a role, optionally as lead of workspaces."""

import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.accounts import services as accounts
from portal.accounts.models import Role, User
from portal.workspaces import services
from portal.workspaces.models import Workspace


class Command(BaseCommand):
    help = "Create or update a user: add_user USERNAME --role admin|ops|lead [--password P] [--workspace SLUG ...]"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", help="Generated and printed when omitted for a new user.")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--workspace",
            action="append",
            default=[],
            metavar="SLUG",
            help="Make the user a lead of this workspace (repeatable).",
        )

    @transaction.atomic
    def handle(self, username, role, password, email, workspace, **options):
        workspaces = list(Workspace.objects.filter(slug__in=workspace))
        missing = sorted(set(workspace) - {w.slug for w in workspaces})
        if missing:
            known = ", ".join(Workspace.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"Unknown workspace {', '.join(missing)} (known: {known}).")
        if workspaces and role != Role.LEAD:
            raise CommandError(
                f"--workspace makes the user a team lead of it; a {role} user cannot lead a "
                "workspace (admins and ops see every workspace already)."
            )
        exists = User.objects.filter(username=username).exists()
        generated = None
        if password is None and not exists:
            password = generated = secrets.token_urlsafe(12)
        user, created = accounts.save_user(
            username, role, password=password, email=email, actor=None, source="cli"
        )
        for ws in workspaces:
            try:
                services.add_member(ws, user, is_lead=True, actor=None, source="cli")
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None

        verb = "Created" if created else "Updated"
        leads = f", lead of {', '.join(w.slug for w in workspaces)}" if workspaces else ""
        self.stdout.write(f"{verb} {role} user {username}{leads}.")
        if generated:
            self.stdout.write(f"Password: {generated}")
