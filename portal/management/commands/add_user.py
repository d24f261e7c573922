"""Create (or update) a portal user with a role, optionally as lead of workspaces."""

import secrets

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal import audit
from portal.models import Role, User


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
        from endpoints.models import Membership, Workspace

        workspaces = list(Workspace.objects.filter(slug__in=workspace))
        missing = sorted(set(workspace) - {w.slug for w in workspaces})
        if missing:
            known = ", ".join(Workspace.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"Unknown workspace {', '.join(missing)} (known: {known}).")

        user = User.objects.filter(username=username).first()
        created = user is None
        if created:
            user = User(username=username, email=email)
        generated = None
        if password is None and created:
            password = generated = secrets.token_urlsafe(12)
        if password is not None:
            user.set_password(password)
        user.role = role  # save() derives is_staff/is_superuser from the role
        if email:
            user.email = email
        user.save()
        for ws in workspaces:
            Membership.objects.update_or_create(workspace=ws, user=user, defaults={"is_lead": True})
        audit.record(None, "create" if created else "update", user, source="cli", label=username)

        verb = "Created" if created else "Updated"
        leads = f", lead of {', '.join(w.slug for w in workspaces)}" if workspaces else ""
        self.stdout.write(f"{verb} {role} user {username}{leads}.")
        if generated:
            self.stdout.write(f"Password: {generated}")
