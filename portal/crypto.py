"""Encryption at rest for secrets the portal must send upstream (Model Studio keys, EAS tokens).

MultiFernet over `PORTAL_SECRET_KEYS` (newest first): encrypts with the first key,
decrypts with any, and `rotate()` re-encrypts under the first. Decryption happens only
at the moment a secret is used.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnavailable(Exception):
    """A stored secret could not be decrypted with any configured key.

    The message never includes the ciphertext or the plaintext.
    """


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.PORTAL_SECRET_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnavailable(
            "No key in PORTAL_SECRET_KEYS decrypts this secret; was a key removed before "
            "`manage.py rotate_secrets` ran?"
        ) from None


def rotate(ciphertext: str) -> str:
    try:
        return fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnavailable("No key in PORTAL_SECRET_KEYS decrypts this secret.") from None


def is_valid_key(key: str) -> bool:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return False
    return True
