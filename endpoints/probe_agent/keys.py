"""The agent's key pair: made at first start, the public half registered with its token, so
the portal can seal each secret to this agent alone (PyNaCl's sealed box, X25519)."""

import base64
import logging
import os
from pathlib import Path

from nacl.public import PrivateKey, SealedBox

log = logging.getLogger(__name__)
KEY_FILE = "agent.key"


def load_or_create(state_dir: str | None) -> PrivateKey:
    """The key kept in `state_dir` (0600), made there at first start; in memory only when
    there is no state directory (a new key then each start: the portal takes the new one)."""
    if not state_dir:
        return PrivateKey.generate()
    path = Path(state_dir) / KEY_FILE
    try:
        return PrivateKey(base64.b64decode(path.read_bytes()))
    except FileNotFoundError:
        pass
    except (ValueError, OSError) as exc:
        log.warning("The key in %s is unusable (%s); making a new one.", path, type(exc).__name__)
    key = PrivateKey.generate()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(bytes(key)))
    except OSError as exc:
        log.warning("Cannot keep the key in %s (%s); it lives in memory only.", path, exc)
    return key


def public_half(key: PrivateKey) -> str:
    return base64.b64encode(bytes(key.public_key)).decode()


def unseal(key: PrivateKey, sealed: str | None) -> str | None:
    """A secret the portal sealed to this agent (kept in memory only, never written)."""
    if not sealed:
        return None
    return SealedBox(key).decrypt(base64.b64decode(sealed)).decode()
