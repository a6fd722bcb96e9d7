"""Websockets through the real ASGI application, with session auth and the Redis layer."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from channels.testing import WebsocketCommunicator
from django.test import Client

from conversations import services
from salesrl.asgi import application
from tests.factories import make_conversation, make_turns

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def session_headers(user) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


async def connect(path: str, user):
    headers = await sync_to_async(session_headers)(user)
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


@pytest.fixture
def live_conversation(org):
    conversation = make_conversation(team=org.team, rep=org.rep)
    make_turns(conversation, "Hi", "Hello")
    return conversation


async def test_a_permitted_viewer_gets_a_snapshot_then_live_turns(org, live_conversation):
    communicator, connected, _ = await connect(f"/ws/conversations/{live_conversation.pk}/", org.manager)
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    assert [t["index"] for t in snapshot["conversation"]["turns"]] == [0, 1]

    await sync_to_async(services.append_turn)(conversation=live_conversation, speaker="rep", text="Shall we?")
    events = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    by_type = {e["type"]: e for e in events}
    assert by_type["turn"]["turn"]["index"] == 2 and by_type["turn"]["turn"]["text"] == "Shall we?"
    assert by_type["score"]["turn_index"] == 2  # scored inline here (eager); a real worker in test_worker
    await communicator.disconnect()


@pytest.mark.parametrize("persona", ["outsider", "other_manager", "rep2", None])
async def test_people_who_may_not_see_the_conversation_are_refused(org, live_conversation, persona):
    user = getattr(org, persona) if persona else None
    _, connected, code = await connect(f"/ws/conversations/{live_conversation.pk}/", user)
    assert not connected
    assert code == 4403


async def test_a_foreign_origin_is_refused(org, live_conversation):
    headers = await sync_to_async(session_headers)(org.manager)
    headers[0] = (b"origin", b"http://evil.example")
    communicator = WebsocketCommunicator(
        application, f"/ws/conversations/{live_conversation.pk}/", headers=headers
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_the_feed_carries_events_of_the_managers_teams_only(org, live_conversation):
    other = await sync_to_async(make_conversation)(team=org.other_team, rep=org.outsider)
    communicator, connected, _ = await connect("/ws/feed/", org.manager)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    await sync_to_async(services.append_turn)(conversation=other, speaker="rep", text="Not yours")
    await sync_to_async(services.append_turn)(conversation=live_conversation, speaker="rep", text="Yours")
    event = await communicator.receive_json_from(timeout=5)
    assert event["conversation_id"] == live_conversation.pk
    await communicator.disconnect()


async def test_a_rep_feed_has_only_their_own_conversations(org, live_conversation):
    teammate_conversation = await sync_to_async(make_conversation)(team=org.team, rep=org.rep2)
    communicator, connected, _ = await connect("/ws/feed/", org.rep)
    assert connected
    await communicator.receive_json_from(timeout=5)
    await sync_to_async(services.append_turn)(
        conversation=teammate_conversation, speaker="rep", text="Not yours"
    )
    await sync_to_async(services.append_turn)(conversation=live_conversation, speaker="rep", text="Yours")
    event = await communicator.receive_json_from(timeout=5)
    assert event["conversation_id"] == live_conversation.pk
    await communicator.disconnect()


async def test_anonymous_feed_is_refused(org):
    _, connected, code = await connect("/ws/feed/", None)
    assert not connected and code == 4403


async def test_a_rep_whose_team_shares_its_views_gets_the_team_s_events(org, live_conversation):
    org.team.reps_see_team_views = True
    await sync_to_async(org.team.save)()
    teammate_conversation = await sync_to_async(make_conversation)(team=org.team, rep=org.rep2)
    elsewhere = await sync_to_async(make_conversation)(team=org.other_team, rep=org.outsider)
    communicator, connected, _ = await connect("/ws/feed/", org.rep)
    assert connected
    await communicator.receive_json_from(timeout=5)
    await sync_to_async(services.append_turn)(conversation=elsewhere, speaker="rep", text="Not your team")
    await sync_to_async(services.append_turn)(conversation=teammate_conversation, speaker="rep", text="Team")
    event = await communicator.receive_json_from(timeout=5)
    assert event["conversation_id"] == teammate_conversation.pk
    await communicator.disconnect()
