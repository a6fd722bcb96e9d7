"""PII redaction: the pure function (no database), and SALESRL_REDACT_PII on the way in (API, import)."""

from __future__ import annotations

import json
import time

import pytest

from django.core.exceptions import ValidationError

from conversations.redaction import luhn_valid, redact_pii
from conversations.text import clean_turn_text
from tests.factories import make_conversation


class TestLuhn:
    @pytest.mark.parametrize(
        "number",
        ["4111111111111111", "5500000000000004", "378282246310005", "6011111111111117", "0", "18"],
    )
    def test_valid_numbers_pass(self, number):
        assert luhn_valid(number)

    @pytest.mark.parametrize("number", ["4111111111111112", "1234567890123456", "5500000000000005", "1"])
    def test_one_wrong_digit_fails(self, number):
        assert not luhn_valid(number)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # emails
        ("Mail me at jane.doe+crm@example.co.uk.", "Mail me at [email]."),
        ("JANE_DOE@Example.COM or bob@sub.example.org", "[email] or [email]"),
        ("(x.y-z@mail-server.io)", "([email])"),
        # cards: grouped or not, 13 to 19 digits, Luhn-valid
        ("my card is 4111 1111 1111 1111 exp 12/27", "my card is [card] exp 12/27"),
        ("4111-1111-1111-1111", "[card]"),
        ("card:4111111111111111.", "card:[card]."),
        ("Amex 378282246310005 or 3782 822463 10005", "Amex [card] or [card]"),
        ("Discover 6011 1111 1111 1117", "Discover [card]"),
        ("Mastercard 5500 0000 0000 0004, expiry 4111111111111111/12", "Mastercard [card], expiry [card]/12"),
        ("qty 12 4111 1111 1111 1111", "qty 12 [card]"),
        ("cards 4111 1111 1111 1111 5500 0000 0000 0004", "cards [card] [card]"),
        # international phones
        ("Call +44 20 7946 0958 today", "Call [phone] today"),
        ("+1-415-555-0132", "[phone]"),
        ("+44 (0)20 7946 0958", "[phone]"),
        ("+1 (415) 555-0132", "[phone]"),
        ("+4915123456789 or +49 151 23456789", "[phone] or [phone]"),
        ("+33.1.23.45.67.89", "[phone]"),
        ("+44 20 7946 0958 2024", "[phone] 2024"),
        ("+1 415 555 0132 5pm", "[phone] 5pm"),
        # North American phones
        ("(415) 555-0132", "[phone]"),
        ("415.555.0132", "[phone]"),
        ("415-555-0132 or 415 555 0132", "[phone] or [phone]"),
        ("1-800-555-0199", "[phone]"),
        ("1 (415) 555-0132", "[phone]"),
        ("(call 415-555-0132)", "(call [phone])"),
        ("12 415 555 0132", "12 [phone]"),
        # all three at once, the rest untouched
        (
            "Sure: jo@acme.com, (415) 555-0132, card 4111 1111 1111 1111. Total $1,299.99 for 12 seats.",
            "Sure: [email], [phone], card [card]. Total $1,299.99 for 12 seats.",
        ),
    ],
)
def test_personal_data_is_replaced(text, expected):
    assert redact_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # order numbers and ids: digit runs that are not cards or written like phones
        "Order 1234 5678 9012 3456",  # 16 digits, fails Luhn
        "order #4111111111111112",
        "Ref 1111 2222 3333 4444 5555",
        "Account 7992739871300008",  # Luhn-valid, but no card issuer starts with 7
        "Member 1234567890123452",  # nor with 1
        "Tracking 1Z999AA10123456784",
        "ISBN 978-3-16-148410-0",
        "4155550132",  # a bare ten-digit run
        "Invoice 415-5550",
        # prices and quantities
        "It costs $1,299.99 or 4,155,550,132 yen",
        "price 415.55, was 555.01",
        "We sold 12 000 units to 3 500 customers",
        "+5 points, +12% and +3.5",
        "a 20-seat plan at 19.99 per seat",
        # years, dates and times
        "In 2024 we grew 15%.",
        "between 2019-2024",
        "2024-01-15",
        "01/15/2024",
        "15.01.2024",
        "2024-01-15T10:30:00Z",
        "10:30 am",
        # other numbers and things with @
        "192.168.100.100",
        "v1.2.3",
        "0.4111111111111111",
        "123-456-7890",  # area codes never start with 1
        "415-155-0132",  # nor exchanges
        "555-0132",  # a seven-digit local number
        "Call 020 7946 0958",  # national, not North American: needs a "+"
        "a@b",
        "@jane can you",
        "me@localhost",
        "",
        "No numbers here at all.",
    ],
)
def test_other_numbers_and_text_are_left_alone(text):
    assert redact_pii(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "1 " * 5000,
        "1" * 10_000,
        "a." * 5000 + "@",
        "+1 " * 3000,
        "1-" * 5000,
        "(415) " * 2000,
        "a@" + "a" * 10_000,
    ],
)
def test_pathological_input_is_handled_quickly(text):
    started = time.perf_counter()
    redact_pii(text)
    assert time.perf_counter() - started < 0.5


class TestCleanTurnText:
    TEXT = "Reach me at jo@acme.com or +44 20 7946 0958; card 4111 1111 1111 1111."

    def test_with_the_setting_off_nothing_changes(self, settings):
        settings.SALESRL_REDACT_PII = False
        assert clean_turn_text(f"  {self.TEXT} ") == self.TEXT

    def test_with_the_setting_on_the_text_is_redacted_after_trimming(self, settings):
        settings.SALESRL_REDACT_PII = True
        assert clean_turn_text(f"  {self.TEXT} ") == "Reach me at [email] or [phone]; card [card]."

    def test_the_length_limit_applies_to_the_text_as_sent(self, settings):
        settings.SALESRL_REDACT_PII = True
        settings.SALESRL_MAX_TURN_CHARS = 100
        with pytest.raises(ValidationError):
            clean_turn_text("4111 1111 1111 1111 " * 6)  # 114 characters, 41 once redacted
        assert clean_turn_text("x" * 80 + " 4111 1111 1111 1111") == "x" * 80 + " [card]"

    def test_the_other_checks_still_run_first(self, settings):
        settings.SALESRL_REDACT_PII = True
        with pytest.raises(ValidationError):
            clean_turn_text("jo@acme.com \x1b")


@pytest.mark.django_db
class TestOnTheWayIn:
    TEXT = "Sure, it's jo@acme.com and (415) 555-0132."
    REDACTED = "Sure, it's [email] and [phone]."

    def post_turn(self, api, org, conversation, text: str, **fields):
        return api(org.rep).post(
            f"/api/v1/conversations/{conversation.pk}/turns/",
            {"speaker": "customer", "text": text, **fields},
            format="json",
        )

    def import_line(self, api, org, text: str):
        line = json.dumps({"id": "imported", "turns": [{"speaker": "customer", "text": text}]})
        return api(org.manager).post(
            f"/api/v1/conversations/import/?team={org.team.slug}&rep=rita",
            line.encode(),
            content_type="application/x-ndjson",
        )

    def test_with_the_setting_off_the_api_and_the_import_store_the_text_as_sent(self, org, api, settings):
        settings.SALESRL_REDACT_PII = False
        conversation = make_conversation(team=org.team, rep=org.rep)
        response = self.post_turn(api, org, conversation, self.TEXT)
        assert response.status_code == 201 and response.json()["text"] == self.TEXT
        assert self.import_line(api, org, self.TEXT).status_code == 201
        imported = org.team.conversations.get(external_id="imported")
        assert imported.turns.get().text == self.TEXT

    def test_the_api_stores_and_answers_the_redacted_text(self, org, api, settings):
        settings.SALESRL_REDACT_PII = True
        conversation = make_conversation(team=org.team, rep=org.rep)
        response = self.post_turn(api, org, conversation, self.TEXT, client_key="k1")
        assert response.status_code == 201 and response.json()["text"] == self.REDACTED
        assert conversation.turns.get().text == self.REDACTED
        # A retry of the same turn still matches the stored (redacted) one.
        retry = self.post_turn(api, org, conversation, self.TEXT, client_key="k1")
        assert retry.status_code == 200 and conversation.turns.count() == 1
        by_index = self.post_turn(api, org, conversation, self.TEXT, index=0)
        assert by_index.status_code == 200

    def test_the_import_stores_the_redacted_text(self, org, api, settings):
        settings.SALESRL_REDACT_PII = True
        response = self.import_line(api, org, self.TEXT)
        assert response.status_code == 201, response.content
        imported = org.team.conversations.get(external_id="imported")
        assert imported.turns.get().text == self.REDACTED
