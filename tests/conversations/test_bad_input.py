"""Hostile and broken input to the ingest API: each is refused with a 4xx in the one error shape
and leaves everything already stored exactly as it was.

test_api.py has the basic field errors (missing fields, "bot", a blank text, one control character,
a Latin-1 body, "\\u0000", "\\ud800", truncated JSON) and test_import_export.py the basic bad import
lines; this file covers the rest: sizes, encodings, control characters, odd JSON, indexes, closed
conversations, content types and every kind of bad import line at once.
"""

from __future__ import annotations

import json

import pytest

from conversations.models import Conversation, Turn
from tests.conversations.test_api import assert_error
from tests.factories import make_conversation, make_turns

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/api/v1/conversations/"
IMPORT = "/api/v1/conversations/import/"


@pytest.fixture
def conversation(org):
    conversation = make_conversation(team=org.team, rep=org.rep, external_id="call-1", metadata={"k": "v"})
    make_turns(conversation, "Hi, how is the trial going?", "Good so far.")
    return conversation


@pytest.fixture
def stored(conversation):
    """A snapshot of every conversation and turn; call it again to compare."""

    def snapshot():
        return (
            list(
                Conversation.objects.order_by("pk").values_list(
                    "pk", "team_id", "rep_id", "external_id", "status", "closed_at", "metadata"
                )
            ),
            list(
                Turn.objects.order_by("pk").values_list(
                    "conversation_id", "index", "speaker", "text", "ts", "duration_s", "client_key"
                )
            ),
        )

    return snapshot


def turns_url(conversation) -> str:
    return f"{CONVERSATIONS}{conversation.pk}/turns/"


def post_raw(client, url: str, body: bytes, content_type: str = "application/json", **extra):
    return client.generic("POST", url, body, content_type=content_type, **extra)


def post_turn(client, conversation, payload: dict):
    return client.post(turns_url(conversation), payload, format="json")


class TestSizes:
    def test_text_of_exactly_the_limit_is_stored_and_one_character_more_is_refused(
        self, conversation, org, api, stored
    ):
        limit = 10_000  # the documented default; whitespace around the text does not count
        before = stored()
        too_long = post_turn(api(org.rep), conversation, {"speaker": "rep", "text": "x" * (limit + 1)})
        error = assert_error(too_long, 400, "validation_error")
        assert f"limit is {limit}" in error["details"]["text"][0]
        assert stored() == before
        fits = post_turn(api(org.rep), conversation, {"speaker": "rep", "text": f"  {'x' * limit}\n"})
        assert fits.status_code == 201, fits.content
        assert len(conversation.turns.get(index=2).text) == limit

    def test_a_multi_megabyte_text_is_refused_and_stores_nothing(self, conversation, org, api, stored):
        before = stored()
        response = post_turn(api(org.rep), conversation, {"speaker": "rep", "text": "word " * 1_000_000})
        error = assert_error(response, 400, "validation_error")
        assert "the limit is" in error["details"]["text"][0]
        assert stored() == before

    def test_a_body_over_the_upload_limit_is_413_in_the_error_shape(
        self, conversation, org, api, stored, settings
    ):
        # Django's own answer was its HTML "Bad Request (400)" page.
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
        before = stored()
        body = json.dumps({"speaker": "rep", "text": "hi", "client_key": "k" * 2_000_000}).encode()
        assert_error(post_raw(api(org.rep), turns_url(conversation), body), 413, "too_large")
        assert stored() == before

    def test_an_import_over_its_byte_limit_is_413_and_stores_nothing(
        self, conversation, org, api, stored, settings
    ):
        # The import's parser read any size: SALESRL_MAX_IMPORT_BYTES was not enforced.
        settings.SALESRL_MAX_IMPORT_BYTES = 10_000
        lines = [
            json.dumps({"id": f"big-{i}", "turns": [{"speaker": "rep", "text": "hello " * 20}]})
            for i in range(100)
        ]
        before = stored()
        response = post_raw(
            api(org.manager),
            f"{IMPORT}?team={org.team.slug}&rep=rita&partial=true",
            "\n".join(lines).encode(),
            content_type="application/x-ndjson",
        )
        error = assert_error(response, 413, "too_large")
        assert "SALESRL_MAX_IMPORT_BYTES" in error["message"]
        assert stored() == before


class TestEncodings:
    @pytest.mark.parametrize(
        "body",
        [
            b'{"speaker": "rep", "text": "euro \xe2\x82"}',  # a truncated multi-byte sequence
            b'{"speaker": "rep", "text": "slash \xc0\xaf"}',  # an overlong encoding of "/"
            b'{"speaker": "rep", "text": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 (CESU-8)
            b'{"speaker": "rep", "text": "\x80 stray continuation"}',
            b'{"speaker": "rep", "te\xffxt": "hi"}',  # in a key
            b'\xef\xbb\xbf{"speaker": "rep", "text": "hi"}',  # a UTF-8 byte order mark
            '{"speaker": "rep", "text": "hi"}'.encode("utf-16"),
        ],
    )
    def test_a_body_that_is_not_utf8_json_is_a_parse_error(self, conversation, org, api, stored, body):
        before = stored()
        assert_error(post_raw(api(org.rep), turns_url(conversation), body), 400, "parse_error")
        assert stored() == before

    def test_a_declared_charset_is_honoured_and_an_unusable_one_refused(self, conversation, org, api, stored):
        client = api(org.rep)
        latin1 = post_raw(
            client,
            turns_url(conversation),
            '{"speaker": "rep", "text": "café"}'.encode("latin-1"),
            content_type="application/json; charset=latin-1",
        )
        assert latin1.status_code == 201 and latin1.json()["text"] == "café"
        before = stored()
        for charset in ("rot13", "base64"):  # real codecs, but not text encodings
            response = post_raw(
                client,
                turns_url(conversation),
                b'{"speaker": "rep", "text": "hi"}',
                content_type=f"application/json; charset={charset}",
            )
            assert_error(response, 400, "parse_error")
        assert stored() == before


class TestControlCharactersAndSurrogates:
    @pytest.mark.parametrize(
        "text",
        ["ESC \x1b[31m red", "DEL \x7f", "NEL \x85", "CSI \x9b2J", "form\x0cfeed", "bell\x07"],
    )
    def test_control_characters_in_text_are_refused(self, conversation, org, api, stored, text):
        before = stored()
        error = assert_error(
            post_turn(api(org.rep), conversation, {"speaker": "rep", "text": text}), 400, "validation_error"
        )
        assert error["details"]["text"] == ["Text contains control characters."]
        assert stored() == before

    @pytest.mark.parametrize(
        "body",
        [
            b'{"speaker": "rep", "text": "raw \x00 NUL"}',  # raw, not escaped: invalid JSON
            b'{"speaker": "rep", "text": "raw \x01 control"}',
            b'{"speaker": "rep", "text": "low \\udc00 alone"}',
            b'{"speaker": "rep", "text": "\\ude00\\ud83d reversed pair"}',
            b'{"speaker": "rep", "text": "hi", "client_key": "\\ud800"}',  # any field, not only text
            b'{"speaker": "rep", "text": "hi", "\\u0000": 1}',  # a key
        ],
    )
    def test_nul_raw_controls_and_lone_surrogates_anywhere_are_parse_errors(
        self, conversation, org, api, stored, body
    ):
        before = stored()
        assert_error(post_raw(api(org.rep), turns_url(conversation), body), 400, "parse_error")
        assert stored() == before

    def test_a_surrogate_pair_tab_and_newlines_are_kept(self, conversation, org, api):
        body = b'{"speaker": "customer", "text": "ok \\ud83d\\ude00\\tsee\\r\\nyou"}'
        response = post_raw(api(org.rep), turns_url(conversation), body)
        assert response.status_code == 201, response.content
        assert conversation.turns.get(index=2).text == "ok \U0001f600\tsee\r\nyou"

    def test_metadata_with_unstorable_values_is_refused_not_a_500(self, conversation, org, api, stored):
        # 1e400 parses to infinity, which jsonb refuses: this was a 500 (DataError).
        before = stored()
        for metadata in (b'{"x": 1e400}', b'{"x": [-1e999]}', b'{"x": "\\u0000"}', b'{"x": NaN}'):
            body = b'{"team": "%s", "external_id": "new", "metadata": %s}' % (
                org.team.slug.encode(),
                metadata,
            )
            assert_error(post_raw(api(org.rep), CONVERSATIONS, body), 400, "parse_error")
        assert stored() == before


class TestMalformedJson:
    @pytest.mark.parametrize(
        "body",
        [
            b'{"speaker": "rep", "text": "hi"} trailing',
            b'{"speaker": "rep", "text": "hi",}',
            b'{"speaker": "rep" "text": "hi"}',
            b"{'speaker': 'rep', 'text': 'hi'}",
            b'{"speaker": "rep", "text": "hi", "duration_s": NaN}',
            b'{"speaker": "rep", "text": "hi", "duration_s": Infinity}',
            b'{"speaker": "rep", "text": "hi", "index": 1' + b"0" * 5000 + b"}",  # past int()'s digit limit
            b"[" * 100_000 + b"]" * 100_000,  # was a 500 (RecursionError)
            b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
        ],
    )
    def test_malformed_json_is_a_parse_error(self, conversation, org, api, stored, body):
        before = stored()
        assert_error(post_raw(api(org.rep), turns_url(conversation), body), 400, "parse_error")
        assert stored() == before

    @pytest.mark.parametrize("body", [b"", b"null", b"42", b'"text"', b"[]", b"{}"])
    def test_a_body_that_is_not_an_object_with_the_fields_is_a_validation_error(
        self, conversation, org, api, stored, body
    ):
        before = stored()
        assert_error(post_raw(api(org.rep), turns_url(conversation), body), 400, "validation_error")
        assert stored() == before


class TestSpeakers:
    @pytest.mark.parametrize(
        "speaker", ["Rep", "REP", " rep", "", "agent", None, 1, True, ["rep"], {"rep": 1}]
    )
    def test_anything_but_rep_or_customer_is_refused(self, conversation, org, api, stored, speaker):
        before = stored()
        error = assert_error(
            post_turn(api(org.rep), conversation, {"speaker": speaker, "text": "hi"}), 400, "validation_error"
        )
        assert set(error["details"]) == {"speaker"}
        assert stored() == before


class TestIndexes:
    @pytest.mark.parametrize("index", [1.5, "two", True, [2], {"i": 2}, -1])
    def test_an_index_that_is_not_a_whole_number_from_0_is_refused(
        self, conversation, org, api, stored, index
    ):
        before = stored()
        error = assert_error(
            post_turn(api(org.rep), conversation, {"speaker": "rep", "text": "hi", "index": index}),
            400,
            "validation_error",
        )
        assert set(error["details"]) == {"index"}
        assert stored() == before

    def test_duplicate_and_out_of_order_indexes_leave_one_turn_per_index(self, conversation, org, api):
        client = api(org.rep)
        sent = [
            (2, "rep", "Shall we talk price?", 201),
            (3, "customer", "Sure.", 201),
            (3, "customer", "  Sure.\n", 200),  # a retry: the same text once trimmed
            (2, "rep", "Shall we talk price?", 200),
            (3, "rep", "Sure.", 409),  # same text, other speaker: not the stored turn
            (2, "rep", "Something else", 409),
            (6, "rep", "Skipping ahead", 409),
            (10**30, "rep", "Far ahead", 409),
            (4, "rep", "Next one", 201),
        ]
        statuses = [
            post_turn(client, conversation, {"index": index, "speaker": speaker, "text": text}).status_code
            for index, speaker, text, _ in sent
        ]
        assert statuses == [expected for *_, expected in sent]
        assert list(conversation.turns.values_list("index", "speaker", "text")) == [
            (0, "rep", "Hi, how is the trial going?"),
            (1, "customer", "Good so far."),
            (2, "rep", "Shall we talk price?"),
            (3, "customer", "Sure."),
            (4, "rep", "Next one"),
        ]

    def test_conflicts_say_which_index_is_next(self, conversation, org, api):
        response = post_turn(api(org.rep), conversation, {"index": 0, "speaker": "customer", "text": "x"})
        assert assert_error(response, 409, "turn_index_taken")["details"] == {"next_index": 2}


class TestClosedConversations:
    def test_a_lost_conversation_takes_no_new_turn_but_a_retry_is_still_answered(
        self, conversation, org, api, stored
    ):
        client = api(org.rep)
        first = post_turn(
            client, conversation, {"speaker": "rep", "text": "Any questions?", "client_key": "k1"}
        )
        assert first.status_code == 201
        close = client.post(f"{CONVERSATIONS}{conversation.pk}/close/", {"outcome": "lost"}, format="json")
        assert close.status_code == 200
        before = stored()
        retry = post_turn(
            client, conversation, {"speaker": "rep", "text": "Any questions?", "client_key": "k1"}
        )
        assert retry.status_code == 200 and retry.json()["index"] == 2
        for payload in (
            {"speaker": "customer", "text": "Wait, one more thing."},
            {"speaker": "customer", "text": "Wait", "index": 3},
            {"speaker": "customer", "text": "Wait", "client_key": "k2"},
        ):
            assert_error(post_turn(client, conversation, payload), 409, "conversation_closed")
        assert stored() == before

    @pytest.mark.parametrize("outcome", ["open", "WON", "", None, True, ["won"]])
    def test_closing_with_anything_but_won_or_lost_changes_nothing(
        self, conversation, org, api, stored, outcome
    ):
        before = stored()
        response = api(org.rep).post(
            f"{CONVERSATIONS}{conversation.pk}/close/", {"outcome": outcome}, format="json"
        )
        assert_error(response, 400, "validation_error")
        assert stored() == before


class TestContentTypes:
    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            (b'{"speaker": "rep", "text": "hi"}', "text/plain"),
            (b"speaker=rep&text=hi", "application/x-www-form-urlencoded"),
            (
                b"--b\r\nContent-Disposition: form-data; name=speaker\r\n\r\nrep\r\n--b--\r\n",
                "multipart/form-data; boundary=b",
            ),
            (b"<turn><speaker>rep</speaker></turn>", "application/xml"),
            (b'{"speaker": "rep", "text": "hi"}', "application/x-ndjson"),
            (b'{"speaker": "rep", "text": "hi"}', ""),
        ],
    )
    def test_a_body_that_is_not_json_is_415(self, conversation, org, api, stored, body, content_type):
        before = stored()
        response = post_raw(api(org.rep), turns_url(conversation), body, content_type=content_type)
        assert_error(response, 415, "unsupported_media_type")
        assert stored() == before

    def test_json_sent_to_the_import_is_415(self, conversation, org, api, stored):
        before = stored()
        response = post_raw(api(org.manager), f"{IMPORT}?team={org.team.slug}", b'{"id": "x", "turns": []}')
        assert_error(response, 415, "unsupported_media_type")
        assert stored() == before

    def test_asking_for_anything_but_json_is_406_in_json(self, conversation, org, api):
        response = api(org.rep).get(
            f"{CONVERSATIONS}{conversation.pk}/", headers={"Accept": "application/xml"}
        )
        assert_error(response, 406, "not_acceptable")

    def test_an_unknown_path_under_the_api_is_a_json_404(self, org, api):
        # A path that matches no route (a non-numeric id) got Django's HTML page.
        for path in (f"{CONVERSATIONS}abc/", f"{CONVERSATIONS}1.5/turns/", "/api/v1/nothing-here/"):
            assert_error(api(org.rep).get(path), 404, "not_found")
        page = api(org.rep).get("/no-such-page/")
        assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def bad_import_lines() -> list[tuple[bytes, str]]:
    """(line, a fragment of the reason the import gives) for every kind of bad line."""

    def line(**fields) -> bytes:
        item = {"id": "x", "turns": [{"speaker": "rep", "text": "hi"}], **fields}
        return json.dumps(item).encode()

    def turn(**fields) -> bytes:
        return line(
            id=f"turn-{len(fields)}-{sorted(fields)}", turns=[{"speaker": "rep", "text": "hi", **fields}]
        )

    return [
        (b'{"id": "bad-utf8", "turns": [{"speaker": "rep", "text": "caf\xe9"}]}', "UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"\xef\xbb\xbf" + line(id="bom"), "BOM"),
        (b'["an", "array"]', "JSON object"),
        (b"[" * 100_000, "nested too deeply"),  # was a 500 (RecursionError)
        (line(id=""), "`id`"),
        (line(id="i" * 201), "`id`"),
        (line(id="no-turns", turns=[]), "`turns`"),
        (line(id="turn-not-object", turns=["hi"]), "must be an object"),
        (line(id="bad-converted", converted="yes"), "`converted`"),
        (line(id="meta-list", meta=[1]), "`meta`"),
        (line(id="meta-nul", meta={"k": "\x00"}), "NUL"),
        (
            b'{"id": "meta-inf", "turns": [{"speaker": "rep", "text": "hi"}], "meta": {"x": 1e400}}',
            "not finite",
        ),
        (turn(speaker="bot"), "speaker"),
        (turn(text="   "), "blank"),
        (turn(text="a\x1bb"), "control characters"),
        (turn(text="x" * 10_001), "limit is 10000"),
        (turn(text=None), "must be a string"),
        (turn(ts="yesterday"), "ts must be"),
        (turn(ts=1e300), "out of range"),  # was a 500 (OverflowError)
        (turn(ts=True), "ts must be"),
        (turn(duration_s=-1), "duration_s"),
        (turn(duration_s=90_000), "duration_s"),  # over a day: the API's bound
        (turn(duration_s=10**400), "duration_s"),  # too big for a float column: was a 500
        (b'{"id": "nan", "turns": [{"speaker": "rep", "text": "hi", "duration_s": NaN}]}', "not finite"),
    ]


def good_import_lines() -> list[bytes]:
    return [
        json.dumps(
            {"id": f"good-{n}", "turns": [{"speaker": "rep", "text": f"Hello {n}"}], "converted": n % 2 == 0}
        ).encode()
        for n in range(3)
    ]


class TestImport:
    def post(self, client, org, lines: list[bytes], query: str = "", newline: bytes = b"\n"):
        return post_raw(
            client,
            f"{IMPORT}?team={org.team.slug}&rep=rita{query}",
            newline.join(lines),
            content_type="application/x-ndjson",
        )

    def test_all_or_nothing_reports_every_bad_line_and_stores_nothing(self, conversation, org, api, stored):
        bad = bad_import_lines()
        good = good_import_lines()
        lines = [good[0], *(raw for raw, _ in bad), good[1], good[1]]  # the last one: a duplicate id
        before = stored()
        response = self.post(api(org.manager), org, lines)
        error = assert_error(response, 400, "import_rejected")
        report = error["details"]
        assert report["stored"] is False and report["created"] == 0
        reasons = {item["line"]: item["error"] for item in report["errors"]}
        expected = {number: fragment for number, (_, fragment) in enumerate(bad, start=2)}
        expected[len(lines)] = "duplicate id"
        assert set(reasons) == set(expected)
        for number, fragment in expected.items():
            assert fragment in reasons[number], (number, reasons[number])
        assert stored() == before

    def test_partial_stores_the_good_lines_and_reports_the_bad_ones(self, conversation, org, api, stored):
        bad = bad_import_lines()
        good = good_import_lines()
        before_conversations, before_turns = stored()
        response = self.post(
            api(org.manager), org, [good[0], *(raw for raw, _ in bad), *good[1:]], "&partial=true"
        )
        assert response.status_code == 201, response.content[:500]
        report = response.json()
        assert report["created"] == 3 and report["stored"] is True
        assert [item["line"] for item in report["errors"]] == list(range(2, 2 + len(bad)))
        imported = Conversation.objects.exclude(pk=conversation.pk)
        assert sorted(imported.values_list("external_id", "status")) == [
            ("good-0", "won"),
            ("good-1", "lost"),
            ("good-2", "won"),
        ]
        assert Turn.objects.filter(conversation__in=imported).count() == 3
        after_conversations, after_turns = stored()
        assert after_conversations[: len(before_conversations)] == before_conversations
        assert after_turns[: len(before_turns)] == before_turns

    def test_partial_with_only_bad_lines_creates_nothing(self, conversation, org, api, stored):
        before = stored()
        response = self.post(
            api(org.manager), org, [raw for raw, _ in bad_import_lines()[:5]], "&partial=true"
        )
        assert response.status_code == 200
        assert response.json()["created"] == 0 and len(response.json()["errors"]) == 5
        assert stored() == before

    def test_line_numbers_count_blank_lines_and_crlf_files_import(self, conversation, org, api):
        good = good_import_lines()
        response = self.post(
            api(org.manager), org, [good[0], b"", b"{oops", b"   ", good[1]], newline=b"\r\n"
        )
        report = assert_error(response, 400, "import_rejected")["details"]
        assert [item["line"] for item in report["errors"]] == [3]
        fixed = self.post(api(org.manager), org, [good[0], b"", good[1]], newline=b"\r\n")
        assert fixed.status_code == 201 and fixed.json()["created"] == 2

    def test_an_empty_import_stores_nothing_and_is_not_an_error(self, conversation, org, api, stored):
        before = stored()
        response = self.post(api(org.manager), org, [])
        assert response.status_code == 200
        assert response.json() == {"created": 0, "skipped_existing": 0, "errors": [], "stored": True}
        assert stored() == before

    @pytest.mark.parametrize("query", ["team=team-1&partial=maybe", "rep=rita", "team=not%20a%20slug"])
    def test_a_bad_query_is_a_validation_error(self, conversation, org, api, stored, query):
        before = stored()
        response = post_raw(
            api(org.manager), f"{IMPORT}?{query}", b"\n".join(good_import_lines()), "application/x-ndjson"
        )
        assert_error(response, 400, "validation_error")
        assert stored() == before
