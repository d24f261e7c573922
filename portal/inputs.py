"""Text no field may hold, refused in one place for the API and the pages.

Two kinds of text reach Python intact but break further down:
- a NUL character: PostgreSQL refuses it in any text column (the query fails, a 500);
- a lone surrogate (`"\\ud800"` in JSON): not Unicode, so it cannot be encoded as UTF-8 to
  be stored, logged or sent.

Query strings and form posts cannot carry a lone surrogate (Django decodes them with
replacement characters), but a JSON body can, and any of them can carry a NUL. Django's
form fields already refuse NUL next to the field; everything else goes through here: the
API's token check (`portal.api.TokenAuth`) for query strings and JSON bodies, after the
role check, and `portal.middleware.RefuseUnsafeTextMiddleware` for paths, headers, cookies
and the pages' query strings.
"""

import json
import math
from typing import Any

NUL_MESSAGE = "Null characters are not allowed."
SURROGATE_MESSAGE = "Unpaired surrogate characters are not allowed: send valid Unicode text."
NOT_JSON = "The body is not valid JSON: {error}."
NOT_AN_OBJECT = 'Send a JSON object: {"field": value, ...}.'
NOT_A_NUMBER = "NaN and Infinity are not JSON numbers."


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored, or None."""
    if "\x00" in value:
        return NUL_MESSAGE
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def problems_in(data: Any, field: str = "__all__") -> dict[str, list[str]]:
    """Every unusable string in `data` (dict keys too), by the top-level field it sits in."""
    problems: dict[str, list[str]] = {}

    def walk(value, name):
        if isinstance(value, str):
            problem = text_problem(value)
            if problem and problem not in problems.get(name, []):
                problems.setdefault(name, []).append(problem)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key, name)
                walk(item, name)
        elif isinstance(value, list):
            for item in value:
                walk(item, name)

    if isinstance(data, dict):
        for key, value in data.items():
            name = key if isinstance(key, str) and text_problem(key) is None else "__all__"
            walk(key, name)
            walk(value, name)
    else:
        walk(data, field)
    return problems


def querydict_problems(querydict) -> dict[str, list[str]]:
    """Unusable text in a query string or form post, by parameter."""
    return problems_in({key: querydict.getlist(key) for key in querydict})


def _refuse_constant(name: str):
    raise ValueError(NOT_A_NUMBER)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999 overflows to Infinity
        raise ValueError(f"{text[:40]} is too large a number.")
    return value


def loads(body: bytes) -> Any:
    """Strict JSON: no NaN or Infinity (which no JSON client sends, and no field accepts)."""
    return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
