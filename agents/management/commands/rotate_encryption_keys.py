"""Re-encrypt every stored secret under the first key of STELLAR_ENCRYPTION_KEYS (the columns of
agents.config.services.ENCRYPTED_COLUMNS, which connectors extends with the Twilio auth tokens)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents.config.services import encryption_keys_rotate
from stellar.kernel.crypto import DecryptionError


class Command(BaseCommand):
    help = (
        "Re-encrypt secret values, auth-connector credentials and Twilio auth tokens with the "
        "first configured key. Afterwards the older keys can be removed from the settings."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = encryption_keys_rotate()
        except DecryptionError as exc:
            raise CommandError(
                f"{exc} Nothing was changed; add the missing key and retry."
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} stored secrets."))
