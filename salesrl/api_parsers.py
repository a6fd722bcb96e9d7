"""A JSON parser that refuses what PostgreSQL cannot store.

JSON may carry "\\u0000" and lone surrogates ("\\ud800"); neither fits a PostgreSQL text or jsonb
value, and letting them through turns a client mistake into a server error. They are rejected
here, for every field of every request, with the API's ordinary 400 parse error.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def unstorable_string_path(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first string (or key) holding NUL or a lone surrogate, else None."""
    if isinstance(value, str):
        if "\x00" in value:
            return path
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable_string_path(key, f"{path}.<key>") or unstorable_string_path(
                item, f"{path}.{key}"
            )
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = unstorable_string_path(item, f"{path}[{i}]")
            if found:
                return found
    return None


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        bad = unstorable_string_path(data)
        if bad:
            raise ParseError(f"JSON string at {bad} contains a NUL character or a lone surrogate.")
        return data
