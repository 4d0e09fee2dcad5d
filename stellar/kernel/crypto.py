"""Encryption at rest for secrets: MultiFernet over STELLAR_ENCRYPTION_KEYS.

The first key encrypts, every key decrypts, so adding a new key in front and running
`manage.py rotate_encryption_keys` re-encrypts everything without downtime.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """A stored value cannot be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("STELLAR_ENCRYPTION_KEYS must hold at least one Fernet key.")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "STELLAR_ENCRYPTION_KEYS: every key must be 32 url-safe base64-encoded bytes "
            "(generate one with `manage.py generate_encryption_key`)."
        ) from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.STELLAR_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "Stored secret cannot be decrypted with the configured keys."
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt a token under the first (newest) key."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "Stored secret cannot be decrypted with the configured keys."
        ) from exc
