"""The portal's logging filter: the engine's redaction (shared with the probe agent)."""

from endpoints.engine.logs import RedactSecretsFilter, redact

__all__ = ["RedactSecretsFilter", "redact"]
