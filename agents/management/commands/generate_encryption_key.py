"""Print a new Fernet key for STELLAR_ENCRYPTION_KEYS."""

from typing import Any

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Print a new encryption key. To rotate: put it first in STELLAR_ENCRYPTION_KEYS "
        "(keep the old keys after it), restart, then run rotate_encryption_keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(Fernet.generate_key().decode())
