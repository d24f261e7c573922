"""Defence in depth for the rule "secrets are never logged".

Code never logs a secret on purpose; this filter catches the accident: anything that
looks like a Model Studio key (sk-…) or a bearer/EAS Authorization header value is
masked before a handler writes the record.
"""

import logging
import re

SECRET_PATTERNS = [
    re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"),
    re.compile(r"\bap_[A-Za-z0-9]{20,}"),
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer\s+)?[^\s'\",}]+"),
]


def redact(text: str) -> str:
    text = SECRET_PATTERNS[0].sub("sk-[redacted]", text)
    text = SECRET_PATTERNS[1].sub("ap_[redacted]", text)
    return SECRET_PATTERNS[2].sub(r"\1[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(exc_text)
            record.exc_info = None
        return True


class QuietForbiddenFilter(logging.Filter):
    """A 403 is an answer, not a fault: Django logs it once ("Forbidden (Permission denied):
    /path") but attaches the PermissionDenied traceback, which says nothing an operator needs.
    Keep the one line, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
