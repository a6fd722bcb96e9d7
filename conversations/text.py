"""Checks on text that arrives from outside before it is stored.

clean_turn_text is the one door every turn's text comes through (the API's TurnInput, which the
live page posts to, and the JSONL import), so it is also where optional PII redaction happens.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError

from .redaction import redact_pii

# C0 controls other than tab, newline and carriage return, DEL, and the C1 controls. PostgreSQL
# refuses NUL in text columns outright; the others are never meaningful in a transcript and break
# rendering (C1's \x9b is a terminal escape; \x80-\x9f mostly betray text decoded as Latin-1).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_turn_text(text: str) -> str:
    """Return the text to store for a turn, or raise ValidationError saying what is wrong.

    Leading/trailing whitespace is trimmed. With SALESRL_REDACT_PII on, email addresses, phone
    numbers and card numbers are replaced by [email], [phone] and [card] (conversations.redaction);
    the length limit applies to the text as sent. Everything else is kept as sent.
    """
    if not isinstance(text, str):
        raise ValidationError("Text must be a string.", code="invalid")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # JSON allows lone surrogates ("\ud800"), which are not valid UTF-8 and cannot be stored.
        raise ValidationError("Text is not valid UTF-8 (lone surrogate).", code="invalid_utf8") from None
    if _CONTROL_CHARS.search(text):
        raise ValidationError("Text contains control characters.", code="control_characters")
    text = text.strip()
    if not text:
        raise ValidationError("Text may not be blank.", code="blank")
    limit = settings.SALESRL_MAX_TURN_CHARS
    if len(text) > limit:
        raise ValidationError(f"Text is {len(text)} characters; the limit is {limit}.", code="too_long")
    if settings.SALESRL_REDACT_PII:
        text = redact_pii(text)
    return text
