"""Defence in depth for the rule "secrets are never logged", for the portal and the agent.

Code never logs a secret on purpose; this filter catches the accident: anything that looks
like a Model Studio key (sk-…), a portal API or agent token (ap_…, apa_…) or a bearer/EAS
Authorization header value is masked before a handler writes the record.
"""

import logging
import re

SECRET_PATTERNS = [
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), "sk-[redacted]"),
    (re.compile(r"\bapa_[A-Za-z0-9]{20,}"), "apa_[redacted]"),
    (re.compile(r"\bap_[A-Za-z0-9]{20,}"), "ap_[redacted]"),
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer\s+)?[^\s'\",}]+"),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


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
