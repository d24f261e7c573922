"""What a pasted secret looks like: errors block saving it, warnings are shown beside it.

Pure checks on the string; the models store secrets encrypted (`StoredSecret`).
"""

import re

MODEL_STUDIO_KEY = re.compile(r"^sk-[0-9a-f]{32}$")
MAX_SECRET_LENGTH = 512


def _common_secret_problems(secret: str, what: str) -> list[str]:
    if not secret:
        return [f"Paste the {what}."]
    if len(secret) > MAX_SECRET_LENGTH:
        return [
            f"That is {len(secret):,} characters; a {what} is well under {MAX_SECRET_LENGTH}. "
            "Paste only the key itself."
        ]
    if any(ch.isspace() for ch in secret) or not secret.isprintable():
        return [
            f"The {what} contains spaces, line breaks or control characters; paste only the key."
        ]
    if not secret.isascii():
        return [
            f"The {what} contains non-ASCII characters, which no HTTP header can carry: "
            "check that it was copied from the console, not retyped."
        ]
    return []


def check_api_key_secret(secret: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a Model Studio API key. Errors block; warnings don't."""
    errors = _common_secret_problems(secret, "API key")
    if errors:
        return errors, []
    if secret.startswith("LTAI"):
        return [
            "This looks like an Alibaba Cloud AccessKey ID (LTAI…), not a Model Studio API key. "
            "Create an API key under Model Studio → API Keys; it starts with sk-."
        ], []
    if not secret.startswith("sk-"):
        return ["Model Studio API keys start with 'sk-'. Check that you copied the whole key."], []
    if secret.startswith("sk-sp-"):
        return [], [
            "This is a Coding Plan key (sk-sp-…); it only works with the Coding Plan endpoints."
        ]
    if not MODEL_STUDIO_KEY.match(secret):
        return [], [
            "Unusual format: Model Studio keys are usually sk- followed by 32 hexadecimal "
            "characters. Saved anyway; the next probe will tell whether it is accepted."
        ]
    return [], []


def check_eas_token(secret: str) -> tuple[list[str], list[str]]:
    errors = _common_secret_problems(secret, "EAS token")
    if errors:
        return errors, []
    if secret.startswith("sk-"):
        return [
            "This is a Model Studio API key. A PAI-EAS service takes its own token, from the "
            "service's 'View invocation information'."
        ], []
    if secret.lower().startswith("bearer "):
        return [
            "Paste the token without 'Bearer': EAS takes the raw token in the Authorization header."
        ], []
    return [], []
