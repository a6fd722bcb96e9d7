"""The ingest API: create, append, close, read; bad input; who may do what."""

from __future__ import annotations

import json

import pytest

from conversations.models import ApiToken, Conversation, Turn
from tests.factories import make_conversation, make_turns

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/api/v1/conversations/"


def turns_url(conversation) -> str:
    return f"{CONVERSATIONS}{conversation.pk}/turns/"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message", "details"}
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def conversation(org):
    return make_conversation(team=org.team, rep=org.rep)


class TestCreate:
    def test_a_rep_opens_their_own_conversation(self, org, api):
        response = api(org.rep).post(
            CONVERSATIONS,
            {"team": org.team.slug, "external_id": "call-1", "channel": "call", "industry": "SaaS"},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["rep"] == "rita" and body["team"] == org.team.slug and body["status"] == "open"
        assert body["converted"] is None and body["turn_count"] == 0

    def test_reposting_the_same_external_id_returns_the_first_conversation(self, org, api):
        first = api(org.rep).post(CONVERSATIONS, {"team": org.team.slug, "external_id": "x"}, format="json")
        again = api(org.rep).post(CONVERSATIONS, {"team": org.team.slug, "external_id": "x"}, format="json")
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        assert Conversation.objects.count() == 1

    def test_a_manager_opens_one_for_a_rep_of_the_team(self, org, api):
        response = api(org.manager).post(CONVERSATIONS, {"team": org.team.slug, "rep": "rita"}, format="json")
        assert response.status_code == 201

    def test_a_rep_may_not_open_one_for_another_rep(self, org, api):
        response = api(org.rep).post(CONVERSATIONS, {"team": org.team.slug, "rep": "raj"}, format="json")
        assert_error(response, 403, "forbidden_rep")

    def test_an_outsider_may_not_open_one_in_another_team(self, org, api):
        response = api(org.outsider).post(CONVERSATIONS, {"team": org.team.slug}, format="json")
        assert_error(response, 403, "forbidden_rep")
        assert Conversation.objects.count() == 0

    def test_unknown_team_and_bad_channel_are_field_errors(self, org, api):
        response = api(org.rep).post(CONVERSATIONS, {"team": "nope", "channel": "fax"}, format="json")
        error = assert_error(response, 400, "validation_error")
        assert set(error["details"]) == {"team", "channel"}

    def test_anonymous_callers_are_refused(self, org, api):
        assert_error(
            api(None).post(CONVERSATIONS, {"team": org.team.slug}, format="json"), 401, "not_authenticated"
        )
        assert_error(api(None).get(CONVERSATIONS), 401, "not_authenticated")


class TestAppendTurn:
    def test_turns_get_consecutive_indexes(self, conversation, org, api):
        client = api(org.rep)
        first = client.post(turns_url(conversation), {"speaker": "rep", "text": " Hi there! "}, format="json")
        second = client.post(
            turns_url(conversation), {"speaker": "customer", "text": "Hello."}, format="json"
        )
        assert first.status_code == second.status_code == 201
        assert first.json()["index"] == 0 and first.json()["text"] == "Hi there!"
        assert second.json()["index"] == 1

    def test_a_retry_with_the_same_client_key_stores_nothing_twice(self, conversation, org, api):
        payload = {"speaker": "rep", "text": "Hi", "client_key": "abc"}
        first = api(org.rep).post(turns_url(conversation), payload, format="json")
        again = api(org.rep).post(turns_url(conversation), payload, format="json")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["index"] == 0
        assert conversation.turns.count() == 1

    def test_the_idempotency_key_header_works_like_client_key(self, conversation, org, api):
        client = api(org.rep)
        for expected in (201, 200):
            response = client.post(
                turns_url(conversation),
                {"speaker": "rep", "text": "Hi"},
                format="json",
                headers={"Idempotency-Key": "k-1"},
            )
            assert response.status_code == expected
        assert conversation.turns.count() == 1

    def test_a_reused_client_key_with_other_content_is_a_conflict(self, conversation, org, api):
        api(org.rep).post(
            turns_url(conversation), {"speaker": "rep", "text": "Hi", "client_key": "k"}, format="json"
        )
        response = api(org.rep).post(
            turns_url(conversation), {"speaker": "rep", "text": "Other", "client_key": "k"}, format="json"
        )
        assert_error(response, 409, "idempotency_key_reused")

    def test_a_retry_with_the_same_index_and_content_is_accepted_once(self, conversation, org, api):
        payload = {"speaker": "rep", "text": "Hi", "index": 0}
        assert api(org.rep).post(turns_url(conversation), payload, format="json").status_code == 201
        assert api(org.rep).post(turns_url(conversation), payload, format="json").status_code == 200
        assert conversation.turns.count() == 1

    def test_different_content_at_a_taken_index_is_refused_and_changes_nothing(self, conversation, org, api):
        make_turns(conversation, "Hi")
        response = api(org.rep).post(
            turns_url(conversation), {"speaker": "customer", "text": "Other", "index": 0}, format="json"
        )
        assert_error(response, 409, "turn_index_taken")
        assert list(conversation.turns.values_list("text", flat=True)) == ["Hi"]

    def test_an_index_beyond_the_next_one_is_out_of_order(self, conversation, org, api):
        make_turns(conversation, "Hi")
        response = api(org.rep).post(
            turns_url(conversation), {"speaker": "rep", "text": "x", "index": 3}, format="json"
        )
        error = assert_error(response, 409, "out_of_order")
        assert error["details"] == {"next_index": 1}
        assert conversation.turns.count() == 1

    def test_a_closed_conversation_takes_no_turns(self, org, api):
        closed = make_conversation(team=org.team, rep=org.rep, status="won")
        response = api(org.rep).post(turns_url(closed), {"speaker": "rep", "text": "x"}, format="json")
        assert_error(response, 409, "conversation_closed")
        assert closed.turns.count() == 0

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"text": "Hi"}, "speaker"),
            ({"speaker": "rep"}, "text"),
            ({"speaker": "bot", "text": "Hi"}, "speaker"),
            ({"speaker": "rep", "text": "   "}, "text"),
            ({"speaker": "rep", "text": "a\x07b"}, "text"),
            ({"speaker": "rep", "text": "Hi", "index": -1}, "index"),
            ({"speaker": "rep", "text": "Hi", "duration_s": -3}, "duration_s"),
            ({"speaker": "rep", "text": "Hi", "ts": "yesterday"}, "ts"),
        ],
    )
    def test_bad_fields_get_a_400_naming_the_field(self, conversation, org, api, payload, field):
        response = api(org.rep).post(turns_url(conversation), payload, format="json")
        error = assert_error(response, 400, "validation_error")
        assert field in error["details"]
        assert conversation.turns.count() == 0

    def test_text_over_the_documented_limit_is_refused(self, conversation, org, api, settings):
        settings.SALESRL_MAX_TURN_CHARS = 100
        response = api(org.rep).post(
            turns_url(conversation), {"speaker": "rep", "text": "x" * 101}, format="json"
        )
        error = assert_error(response, 400, "validation_error")
        assert "limit is 100" in error["details"]["text"][0]

    @pytest.mark.parametrize(
        "body",
        [
            b'{"speaker": "rep", "text": "caf\xe9"}',  # Latin-1, not UTF-8
            b'{"speaker": "rep", "text": "a\\u0000b"}',  # NUL: PostgreSQL cannot store it
            b'{"speaker": "rep", "text": "\\ud800"}',  # lone surrogate
            b'{"speaker": "rep", "text": ',  # truncated JSON
            b'["not", "an", "object"]',
        ],
    )
    def test_undecodable_or_unstorable_bodies_get_a_400(self, conversation, org, api, body):
        response = api(org.rep).post(turns_url(conversation), body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] in {"parse_error", "validation_error"}
        assert conversation.turns.count() == 0

    def test_other_teams_conversations_are_not_found(self, conversation, org, api):
        response = api(org.outsider).post(
            turns_url(conversation), {"speaker": "rep", "text": "Hi"}, format="json"
        )
        assert_error(response, 404, "not_found")
        response = api(org.rep2).post(
            turns_url(conversation), {"speaker": "rep", "text": "Hi"}, format="json"
        )
        assert_error(response, 404, "not_found")

    def test_a_manager_of_the_team_may_append(self, conversation, org, api):
        response = api(org.manager).post(
            turns_url(conversation), {"speaker": "rep", "text": "Hi"}, format="json"
        )
        assert response.status_code == 201


class TestClose:
    def test_closing_records_the_outcome_once(self, conversation, org, api):
        url = f"{CONVERSATIONS}{conversation.pk}/close/"
        response = api(org.rep).post(url, {"outcome": "won"}, format="json")
        assert response.status_code == 200 and response.json()["status"] == "won"
        assert response.json()["converted"] is True
        assert api(org.rep).post(url, {"outcome": "won"}, format="json").status_code == 200
        assert_error(api(org.rep).post(url, {"outcome": "lost"}, format="json"), 409, "conversation_closed")
        conversation.refresh_from_db()
        assert conversation.status == "won" and conversation.closed_at is not None

    def test_open_is_not_an_outcome(self, conversation, org, api):
        response = api(org.rep).post(
            f"{CONVERSATIONS}{conversation.pk}/close/", {"outcome": "open"}, format="json"
        )
        assert_error(response, 400, "validation_error")


class TestRead:
    def test_each_persona_lists_what_they_may_see(self, org, api):
        own = make_conversation(team=org.team, rep=org.rep)
        teammate = make_conversation(team=org.team, rep=org.rep2)
        elsewhere = make_conversation(team=org.other_team, rep=org.outsider)

        def ids(user):
            response = api(user).get(CONVERSATIONS)
            assert response.status_code == 200
            return {item["id"] for item in response.json()["results"]}

        assert ids(org.rep) == {own.pk}
        assert ids(org.manager) == {own.pk, teammate.pk}
        assert ids(org.outsider) == {elsewhere.pk}
        assert ids(org.other_manager) == {elsewhere.pk}
        assert ids(org.admin) == {own.pk, teammate.pk, elsewhere.pk}

    def test_detail_has_turns_with_their_scores(self, conversation, org, api):
        make_turns(conversation, "Hi", "Hello")
        body = api(org.manager).get(f"{CONVERSATIONS}{conversation.pk}/").json()
        assert [t["text"] for t in body["turns"]] == ["Hi", "Hello"]
        assert all("score" in t for t in body["turns"])
        assert_error(api(org.outsider).get(f"{CONVERSATIONS}{conversation.pk}/"), 404, "not_found")

    def test_list_filters_are_validated(self, org, api):
        assert_error(api(org.manager).get(CONVERSATIONS + "?status=maybe"), 400, "validation_error")
        make_conversation(team=org.team, rep=org.rep, status="lost")
        make_conversation(team=org.team, rep=org.rep)
        body = api(org.manager).get(CONVERSATIONS + "?status=lost").json()
        assert [item["status"] for item in body["results"]] == ["lost"]


class TestApiTokens:
    def test_a_bearer_token_acts_as_its_user_until_revoked(self, conversation, org, api):
        token, key = ApiToken.issue(user=org.rep, team=org.team, name="dialer")
        client = api(None)
        response = client.post(
            turns_url(conversation),
            {"speaker": "rep", "text": "Hi"},
            format="json",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 201
        assert ApiToken.objects.get(pk=token.pk).key_hash != key  # stored hashed
        token.revoked_at = token.created_at
        token.save()
        response = client.get(CONVERSATIONS, headers={"Authorization": f"Bearer {key}"})
        assert_error(response, 401, "authentication_failed")

    def test_a_made_up_token_is_refused(self, org, api):
        response = api(None).get(CONVERSATIONS, headers={"Authorization": "Bearer srl_nope"})
        assert_error(response, 401, "authentication_failed")


def test_the_openapi_schema_is_served(org, api):
    response = api(org.rep).get("/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/v1/conversations/{id}/turns/" in schema["paths"]


def test_turns_survive_a_rejected_request_untouched(conversation, org, api):
    make_turns(conversation, "Hi", "Hello")
    before = list(Turn.objects.values_list("index", "speaker", "text"))
    api(org.rep).post(
        turns_url(conversation), b'{"speaker": "rep", "text": "\\u0000"}', content_type="application/json"
    )
    api(org.rep).post(turns_url(conversation), {"speaker": "rep", "text": "x", "index": 0}, format="json")
    assert list(Turn.objects.values_list("index", "speaker", "text")) == before
