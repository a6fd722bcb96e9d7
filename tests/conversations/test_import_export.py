"""JSONL import and export (the interchange format of shared/data/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conversations.models import Conversation, Turn
from tests.factories import make_conversation, make_turns

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/conversations/import/"
EXPORT = "/api/v1/conversations/export/"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def line(id_: str, converted=True, **extra) -> str:
    item = {
        "id": id_,
        "source": "test",
        "turns": [
            {"speaker": "rep", "text": "Hi, how is the trial going?", "ts": "2026-01-05T10:00:00Z"},
            {"speaker": "customer", "text": "Good so far.", "duration_s": 2.5},
        ],
        "converted": converted,
        "meta": {"leak_turn": 2, "channel": "call", "industry": "SaaS"},
    }
    item.update(extra)
    return json.dumps(item)


def post_jsonl(client, lines, query="team=team-x"):
    return client.post(f"{IMPORT}?{query}", "\n".join(lines).encode(), content_type="application/x-ndjson")


@pytest.fixture
def query(org):
    return f"team={org.team.slug}&rep=rita"


def test_an_import_stores_conversations_turns_and_outcomes(org, api, query):
    response = post_jsonl(api(org.manager), [line("a", True), line("b", False), line("c", None)], query)
    assert response.status_code == 201, response.content
    assert response.json() == {"created": 3, "skipped_existing": 0, "errors": [], "stored": True}
    statuses = dict(Conversation.objects.values_list("external_id", "status"))
    assert statuses == {"a": "won", "b": "lost", "c": "open"}
    a = Conversation.objects.get(external_id="a")
    assert a.channel == "call" and a.industry == "SaaS" and a.metadata["leak_turn"] == 2
    assert a.started_at.isoformat() == "2026-01-05T10:00:00+00:00"
    assert list(a.turns.values_list("index", "speaker", "duration_s")) == [
        (0, "rep", None),
        (1, "customer", 2.5),
    ]


def test_one_bad_line_stores_nothing_and_every_bad_line_is_reported(org, api, query):
    lines = [
        line("good"),
        "{not json",
        line("bad-speaker", turns=[{"speaker": "bot", "text": "hi"}]),
        line("bad-converted", converted="yes"),
        json.dumps({"id": "no-turns", "turns": []}),
        line("good"),  # duplicate id
    ]
    response = post_jsonl(api(org.manager), lines, query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "import_rejected"
    body = response.json()["error"]["details"]
    assert body["stored"] is False and body["created"] == 0
    assert [e["line"] for e in body["errors"]] == [2, 3, 4, 5, 6]
    assert "speaker" in body["errors"][1]["error"]
    assert Conversation.objects.count() == 0


def test_partial_import_stores_the_good_lines(org, api, query):
    response = post_jsonl(
        api(org.manager), [line("good"), "{not json", b"\xff\xfe".decode("latin-1")], query + "&partial=true"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["created"] == 1 and len(body["errors"]) == 2
    assert Conversation.objects.filter(external_id="good").exists()


def test_invalid_utf8_and_nul_are_reported_by_line(org, api, query):
    body = (
        line("ok").encode()
        + b"\n"
        + b'{"id": "x\xff", "turns": []}'
        + b"\n"
        + line("nul", meta={"k": "\u0000"}).encode()
    )
    response = api(org.manager).post(f"{IMPORT}?{query}", body, content_type="application/x-ndjson")
    assert response.status_code == 400
    errors = {e["line"]: e["error"] for e in response.json()["error"]["details"]["errors"]}
    assert "UTF-8" in errors[2] and "NUL" in errors[3]


def test_reimporting_skips_what_is_already_there(org, api, query):
    post_jsonl(api(org.manager), [line("a")], query)
    response = post_jsonl(api(org.manager), [line("a"), line("b")], query)
    assert response.json()["created"] == 1 and response.json()["skipped_existing"] == 1
    assert Turn.objects.count() == 4


def test_import_permissions(org, api):
    assert post_jsonl(api(org.rep), [line("mine")], f"team={org.team.slug}").status_code == 201
    assert post_jsonl(api(org.rep), [line("x")], f"team={org.team.slug}&rep=raj").status_code == 403
    assert post_jsonl(api(org.outsider), [line("x")], f"team={org.team.slug}").status_code == 403
    assert post_jsonl(api(org.manager), [line("x")], "team=missing").status_code == 404


def test_export_round_trips_through_import(org, api):
    conversation = make_conversation(
        team=org.team, rep=org.rep, external_id="e1", industry="SaaS", status="won"
    )
    make_turns(conversation, "Hi", "Tell me more.")
    make_conversation(team=org.other_team, rep=org.outsider, external_id="not-visible")
    response = api(org.manager).get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1
    item = json.loads(lines[0])
    assert item["id"] == "e1" and item["converted"] is True
    assert [t["text"] for t in item["turns"]] == ["Hi", "Tell me more."]
    assert item["meta"]["team"] == org.team.slug

    reimport = post_jsonl(api(org.admin), lines, f"team={org.other_team.slug}&rep=sam")
    assert reimport.status_code == 201
    copy = Conversation.objects.get(team=org.other_team, external_id="e1")
    assert copy.status == "won" and copy.industry == "SaaS"
    assert list(copy.turns.values_list("text", flat=True)) == ["Hi", "Tell me more."]


def test_export_uses_the_list_filters(org, api):
    make_conversation(team=org.team, rep=org.rep, external_id="won-1", status="won")
    make_conversation(team=org.team, rep=org.rep, external_id="open-1")
    response = api(org.manager).get(EXPORT + "?status=won")
    ids = [json.loads(x)["id"] for x in b"".join(response.streaming_content).decode().splitlines()]
    assert ids == ["won-1"]
    assert api(org.manager).get(EXPORT + "?status=bogus").status_code == 400


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data is not beside the repository")
def test_the_shared_real_conversation_files_import_as_they_are(org, api, query):
    with (SHARED_DATA / "persuasionforgood-dev.jsonl").open("rb") as handle:
        lines = [next(handle) for _ in range(50)]
    response = api(org.manager).post(
        f"{IMPORT}?{query}", b"".join(lines), content_type="application/x-ndjson"
    )
    assert response.status_code == 201, response.content[:500]
    assert response.json()["created"] == 50
