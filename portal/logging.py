"""The portal's logging filters: the engine's redaction (shared with the probe agent), and a
403 logged without its traceback."""

import logging

from endpoints.engine.logs import RedactSecretsFilter, redact

__all__ = ["QuietForbiddenFilter", "RedactSecretsFilter", "redact"]


class QuietForbiddenFilter(logging.Filter):
    """A 403 is an answer, not a fault: Django logs it once ("Forbidden (Permission denied):
    /path") but attaches the PermissionDenied traceback, which says nothing an operator needs.
    Keep the one line, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
