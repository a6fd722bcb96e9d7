"""A JSON parser that refuses what PostgreSQL cannot store.

JSON may carry "\\u0000" and lone surrogates ("\\ud800"), and a number such as 1e400 parses to
infinity; none of them fits a PostgreSQL text or jsonb value, and letting them through turns a
client mistake into a server error. They are rejected here, for every field of every request, with
the API's ordinary 400 parse error. So is JSON nested too deeply for Python's parser to follow.
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def unstorable_value(value: Any, path: str = "$") -> str | None:
    """Where and why the first unstorable value is, e.g. "$.text: a NUL character", else None.

    Unstorable: a string (or key) holding NUL or a lone surrogate, or a number that is not finite
    (NaN, or infinity from an out-of-range literal).
    """
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path}: a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path}: a lone surrogate"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path}: a number that is not finite"
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable_value(key, f"{path}.<key>") or unstorable_value(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = unstorable_value(item, f"{path}[{i}]")
            if found:
                return found
    return None


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
            bad = unstorable_value(data)
        except RecursionError:
            # json raises RecursionError, not a ValueError, for "[[[[…": DRF would answer 500.
            raise ParseError("JSON is nested too deeply.") from None
        if bad:
            raise ParseError(f"JSON value cannot be stored: {bad}.")
        return data
