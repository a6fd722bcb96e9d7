"""Scale-out on one machine: two daphne processes and two Celery workers share the database and Redis.

A turn posted through web process B is scored by whichever worker takes it, and its pushes reach a
websocket held by web process A: nothing is sticky, the channel layer (Redis) carries the events.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import websockets

from django.test import Client

from conversations.models import ApiToken
from salesrl.celery import app as celery_app
from scoring.models import Score
from tests.factories import make_conversation
from tests.processes import celery_worker, web_server, worker_node

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

CONVERSATIONS = 4
TURNS_EACH = 5


def post_turns(base_url: str, token: str, conversation_id: int) -> list[int]:
    """Post TURNS_EACH turns in order (each waits for the one before); returns their HTTP statuses."""
    statuses = []
    for index in range(TURNS_EACH):
        request = urllib.request.Request(
            f"{base_url}/api/v1/conversations/{conversation_id}/turns/",
            data=json.dumps(
                {
                    "speaker": "rep" if index % 2 == 0 else "customer",
                    "text": f"Turn {index} of conversation {conversation_id}: what does rollout look like?",
                    "index": index,
                }
            ).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            statuses.append(response.status)
    return statuses


async def watch_and_post(
    web_a: str, web_b: str, session_id: str, token: str, conversation_ids: list[int], timeout: float = 40
) -> tuple[dict[int, list[dict]], list[list[int]]]:
    """Subscribe to every conversation on A, then post all turns through B; gather A's pushes until each
    turn's score arrived. Returns ({conversation id: events}, HTTP statuses per conversation)."""
    headers = {"Cookie": f"sessionid={session_id}", "Origin": web_a}
    events: dict[int, list[dict]] = {cid: [] for cid in conversation_ids}
    sockets = []
    try:
        for cid in conversation_ids:
            socket = await websockets.connect(
                f"{web_a.replace('http', 'ws', 1)}/ws/conversations/{cid}/", additional_headers=headers
            )
            sockets.append(socket)
            assert json.loads(await socket.recv())["type"] == "snapshot"

        async def gather(cid: int, socket) -> None:
            while sum(e["type"] == "score" for e in events[cid]) < TURNS_EACH:
                events[cid].append(json.loads(await socket.recv()))

        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=len(conversation_ids)) as pool:
            posting = [loop.run_in_executor(pool, post_turns, web_b, token, cid) for cid in conversation_ids]
            async with asyncio.timeout(timeout):
                statuses = await asyncio.gather(*posting)
                await asyncio.gather(
                    *(gather(cid, s) for cid, s in zip(conversation_ids, sockets, strict=True))
                )
    finally:
        for socket in sockets:
            await socket.close()
    return events, statuses


def test_a_turn_posted_through_one_web_process_reaches_a_websocket_on_another_via_either_worker(org):
    make_conversation(team=org.team, rep=org.rep2, status="won")
    make_conversation(team=org.team, rep=org.rep2, status="lost")
    conversations = [make_conversation(team=org.team, rep=org.rep) for _ in range(CONVERSATIONS)]
    ids = [c.pk for c in conversations]
    _, token = ApiToken.issue(user=org.rep, team=org.team, name="scale-out test")
    browser = Client()
    browser.force_login(org.rep)  # the websocket authenticates with the session, as the live page does
    session_id = browser.cookies["sessionid"].value
    nodes = [worker_node("a"), worker_node("b")]  # the workers' Celery node names

    with ExitStack() as stack:
        stack.enter_context(celery_worker("a"))
        stack.enter_context(celery_worker("b", purge=False))
        web_a = stack.enter_context(web_server())
        web_b = stack.enter_context(web_server())
        events, statuses = asyncio.run(watch_and_post(web_a, web_b, session_id, token, ids))
        stats = celery_app.control.inspect(destination=nodes, timeout=2).stats() or {}

    assert statuses == [[201] * TURNS_EACH] * CONVERSATIONS
    for cid in ids:
        scores = [e for e in events[cid] if e["type"] == "score"]
        assert sorted(e["turn_index"] for e in scores) == list(range(TURNS_EACH)), events[cid]
        assert all(e["conversation_id"] == cid for e in scores)
        assert {e["score"]["model_version"] for e in scores} == {"baseline:team-rate"}
        assert all(e["score"]["probability"] == 0.5 for e in scores)
        # The turn pushes come from web process B's commit, through Redis, to A's socket.
        assert sorted(e["turn"]["index"] for e in events[cid] if e["type"] == "turn") == list(
            range(TURNS_EACH)
        )
    scored_by = {node: stats.get(node, {}).get("total", {}).get("scoring.score_turn", 0) for node in nodes}
    assert all(count >= 1 for count in scored_by.values()), scored_by
    assert sum(scored_by.values()) == CONVERSATIONS * TURNS_EACH, scored_by
    assert Score.objects.filter(conversation_id__in=ids).count() == CONVERSATIONS * TURNS_EACH
