"""Replace personal data in a turn's text with placeholders: [email], [phone], [card].

Pure functions, no Django: conversations.text calls redact_pii when SALESRL_REDACT_PII is on.

Precision matters more than recall here: a transcript full of false "[phone]"s loses the order
numbers, prices, dates and quantities that scoring and coaching read. So:

- an email is local@domain.tld;
- a card number is 13 to 19 digits, optionally grouped by single spaces or dashes, starting with 2-6
  (the issuer ranges of Visa, Mastercard, Amex, Discover, JCB, UnionPay…), that passes the Luhn check;
- a phone number is either international, "+" and 8 to 15 digits (E.164), grouped by single spaces,
  dots or dashes, with an optional "(0)" or "(area)"; or a North American number in one of its
  written forms, (415) 555-0132, 415-555-0132, 415.555.0132, 415 555 0132, with an optional leading
  1, whose area code and exchange start with 2-9.

Not redacted: digit runs that fail those rules (order numbers, account ids, prices, dates, years,
"4155550132" without separators), national numbers outside North America without "+"
("020 7946 0958"), seven-digit local numbers ("555-0132").
"""

from __future__ import annotations

import re

EMAIL = "[email]"
PHONE = "[phone]"
CARD = "[card]"

_MAYBE_PII = re.compile(r"[\d@]")
_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]*\w@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?![\w-])"
)
# Digits not glued to a word, a "+" (a phone) or a decimal/thousands separator ("0.4111…", "1,234").
_NOT_AFTER = r"(?<![\w+])(?<!\d[.,/-])"
_NOT_BEFORE = r"(?!\w)(?![.,/-]\d)"
# Digit groups joined by one space or dash: a card candidate, split at its separators if need be.
# Unlike a phone it may run into "/" (an expiry date: 4111111111111111/12).
_DIGIT_RUN = re.compile(_NOT_AFTER + r"\d+(?:[ -]\d+)*(?!\w)(?![.,]\d)")
_SEPARATOR = re.compile(r"([ .-])")
_INTERNATIONAL = re.compile(_NOT_AFTER + r"\+\d(?:[ .-]?(?:\(\d{1,4}\)|\d))+" + _NOT_BEFORE)
_NANP = re.compile(
    _NOT_AFTER + r"(?:1[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}" + _NOT_BEFORE
)
_CARD_DIGITS = range(13, 20)
_PHONE_DIGITS = range(8, 16)  # E.164: at most 15 digits with the country code


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (every payment card number satisfies it)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return len(digits) in _CARD_DIGITS and digits[0] in "23456" and luhn_valid(digits)


def _card_end(groups: list[str], start: int) -> int | None:
    """The end of the longest stretch of digit groups from `start` that is a card number."""
    found = None
    digits = ""
    for end in range(start + 1, len(groups) + 1):
        digits += groups[end - 1]
        if len(digits) >= _CARD_DIGITS.stop:
            break
        if _is_card(digits):
            found = end
    return found


def _redact_cards(match: re.Match[str]) -> str:
    """The run with each card number in it replaced, left to right: the whole run, or stretches of
    its groups (in "qty 12 4111 1111 1111 1111" the 12 stays)."""
    parts = _SEPARATOR.split(match.group(0))  # group, separator, group, …
    groups = parts[0::2]
    pieces = []
    i = 0
    while i < len(groups):
        end = _card_end(groups, i)
        if end is None:
            pieces.append(groups[i])
            i += 1
        else:
            pieces.append(CARD)
            i = end
        if i < len(groups):
            pieces.append(parts[2 * i - 1])  # the separator before group i
    return "".join(pieces)


def _redact_international(match: re.Match[str]) -> str:
    """[phone] for the longest leading stretch of groups with 8-15 digits ("+44 20 7946 0958 2024"
    keeps the 2024), else the match unchanged."""
    candidate = match.group(0)
    if candidate.count("(") > 1:
        return candidate
    parts = _SEPARATOR.split(candidate)
    count = 0
    phone_end = None
    for end in range(1, len(parts) + 1, 2):
        count += sum(char.isdigit() for char in parts[end - 1])
        if count >= _PHONE_DIGITS.stop:
            break
        if count in _PHONE_DIGITS:
            phone_end = end
    if phone_end is None:
        return candidate
    return PHONE + "".join(parts[phone_end:])


def redact_pii(text: str) -> str:
    """`text` with email addresses, phone numbers and payment card numbers replaced by
    [email], [phone] and [card]. Everything else is left exactly as it was."""
    if not _MAYBE_PII.search(text):
        return text  # most turns: nothing that could match
    text = _EMAIL.sub(EMAIL, text)
    # Cards before phones: a grouped card number would otherwise read as phone-like groups.
    text = _DIGIT_RUN.sub(_redact_cards, text)
    text = _INTERNATIONAL.sub(_redact_international, text)
    return _NANP.sub(PHONE, text)
