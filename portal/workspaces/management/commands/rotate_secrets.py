"""Re-encrypt every stored secret with the newest key in PORTAL_SECRET_KEYS."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal import crypto
from portal.audit import trail
from portal.workspaces.models import ApiKey, EasToken


class Command(BaseCommand):
    help = (
        "Re-encrypt all API keys and EAS tokens with the first key of PORTAL_SECRET_KEYS. "
        "Put the new key first, run this, then remove the old key."
    )

    @transaction.atomic
    def handle(self, **options):
        rotated, failed = 0, []
        for model in (ApiKey, EasToken):
            for row in model.objects.select_for_update().only(
                "pk", "ciphertext", "fingerprint", "label"
            ):
                try:
                    row.ciphertext = crypto.rotate(row.ciphertext)
                except crypto.SecretUnavailable:
                    failed.append(f"{model._meta.verbose_name} {row.label} ({row.fingerprint})")
                    continue
                row.save(update_fields=["ciphertext"])
                rotated += 1
        if failed:
            # Nothing is half-done: the transaction rolls back.
            raise CommandError(
                "No configured key decrypts: " + "; ".join(failed) + ". Nothing was changed; add "
                "the key they were encrypted with back to PORTAL_SECRET_KEYS and run again."
            )
        trail.record(
            None,
            trail.Action.ROTATE,
            ApiKey(label="all stored secrets"),
            source="cli",
            label=f"{rotated} secrets",
        )
        self.stdout.write(f"Re-encrypted {rotated} secret(s) with the newest key.")
