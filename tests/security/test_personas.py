"""Who may see what: every page, every API endpoint and every websocket, for every persona.

The table below lists each URL pattern of the project with the rule it follows. A new URL pattern
that is not in the table fails `test_every_url_pattern_is_in_the_matrix`, so nobody can add an
endpoint without deciding who may use it.

Personas (tests/conftest.py `org`): `rep` (Rita, owner of the conversation) and `rep2` in team A
with `manager`; `outsider` (a rep) and `other_manager` in team B; `admin`; `anonymous`. Two API
tokens: `team_token` (Rita's, scoped to team A) and `other_team_token` (the admin's, scoped to
team B: even an admin's key for one team must not reach another).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async

from channels.testing import WebsocketCommunicator
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from coaching.models import Guidance
from conversations import realtime
from conversations.models import ApiToken, Conversation, Turn
from salesrl.asgi import application
from tests.conversations.test_consumers import session_headers
from tests.experiments.helpers import make_experiment
from tests.factories import make_conversation, make_turns

SECRET_ID = "deal-a-secret"
SECRET_TEXT = "SECRET-TURN-TEXT about the Acme renewal"
PERSONAS = (
    "anonymous",
    "rep",
    "rep2",
    "outsider",
    "manager",
    "other_manager",
    "admin",
    "team_token",
    "other_team_token",
)

# Who is allowed, per rule. Everyone else is denied.
RULES: dict[str, set[str]] = {
    # The conversation itself: its rep, the team's manager, admins, and a token of its team and rep.
    "conversation": {"rep", "manager", "admin", "team_token"},
    # Team views of team A (dashboards, library, wall, experiments of the team): managers and admins.
    "team_views": {"manager", "admin"},
    # Anyone signed in (the content is filtered to what they may see: checked for leaks).
    "signed_in": {
        "rep",
        "rep2",
        "outsider",
        "manager",
        "other_manager",
        "admin",
        "team_token",
        "other_team_token",
    },
    # Team-view lists without a team filter: any manager (their own teams), admins.
    # (The admin's token for team B acts as a manager of team B.)
    "any_manager": {"manager", "other_manager", "admin", "other_team_token"},
    # Configuration of experiments and the audit log: admins (in a browser session) only.
    "admin": {"admin"},
    # Recording for Rita in team A (create a conversation, import).
    "record_for_rita": {"rep", "manager", "admin", "team_token"},
    # Public by design.
    "public": set(PERSONAS),
}

# (url name, method, path template, rule, API?). Paths use {conversation}, {guidance}, {experiment}.
MATRIX = [
    # Pages
    ("home", "GET", "/", "signed_in", False),
    ("conversation-table", "GET", "/conversations/table/", "signed_in", False),
    ("conversation-live", "GET", "/conversations/{conversation}/", "conversation", False),
    ("dashboard", "GET", "/dashboard/?team=team-a", "team_views", False),
    ("dashboard-rep", "GET", "/dashboard/reps/rita/", "team_views", False),
    ("live-wall", "GET", "/wall/?team=team-a", "team_views", False),
    ("library", "GET", "/library/?team=team-a", "team_views", False),
    ("library-detail", "GET", "/library/{conversation}/", "team_views", False),
    ("experiments", "GET", "/experiments/", "any_manager", False),
    ("experiment-new", "GET", "/experiments/new/", "admin", False),
    ("experiment-results", "GET", "/experiments/{experiment}/", "team_views", False),
    ("experiment-edit", "GET", "/experiments/{experiment}/edit/", "admin", False),
    ("experiment-start", "POST", "/experiments/{experiment}/start/", "admin", False),
    ("experiment-stop", "POST", "/experiments/{experiment}/stop/", "admin", False),
    ("health", "GET", "/health/", "public", False),
    ("login", "GET", "/login/", "public", False),
    # API
    ("api-conversations", "GET", "/api/v1/conversations/", "signed_in", True),
    ("api-conversations", "POST", "/api/v1/conversations/", "record_for_rita", True),
    (
        "api-conversations-import",
        "POST",
        "/api/v1/conversations/import/?team=team-a&rep=rita",
        "record_for_rita",
        True,
    ),
    ("api-conversations-export", "GET", "/api/v1/conversations/export/", "signed_in", True),
    ("api-conversation", "GET", "/api/v1/conversations/{conversation}/", "conversation", True),
    ("api-conversation-turns", "POST", "/api/v1/conversations/{conversation}/turns/", "conversation", True),
    ("api-conversation-close", "POST", "/api/v1/conversations/{conversation}/close/", "conversation", True),
    # The batch API answers 200 with a result per item: the item's status is what the matrix checks.
    ("api-turns-batch", "POST", "/api/v1/turns/", "conversation", True),
    (
        "api-conversation-guidance",
        "GET",
        "/api/v1/conversations/{conversation}/guidance/",
        "conversation",
        True,
    ),
    ("api-guidance-feedback", "POST", "/api/v1/guidance/{guidance}/feedback/", "conversation", True),
    ("api-dashboard-overview", "GET", "/api/v1/dashboard/overview/?team=team-a", "team_views", True),
    ("api-dashboard-rep", "GET", "/api/v1/dashboard/reps/rita/", "team_views", True),
    ("api-library", "GET", "/api/v1/library/?team=team-a", "team_views", True),
    ("api-library-export", "GET", "/api/v1/library/export/?team=team-a", "team_views", True),
    ("api-live-wall", "GET", "/api/v1/live-wall/?team=team-a", "team_views", True),
    ("api-bookmark", "PUT", "/api/v1/conversations/{conversation}/bookmark/", "team_views", True),
    ("api-experiments", "GET", "/api/v1/experiments/", "any_manager", True),
    ("api-experiments", "POST", "/api/v1/experiments/", "admin", True),
    (
        "api-experiment-plan",
        "GET",
        "/api/v1/experiments/plan/?baseline_rate=0.3&reps_per_arm=12&conversations_per_rep_per_week=8&weeks=4",
        "any_manager",
        True,
    ),
    ("api-experiment", "GET", "/api/v1/experiments/{experiment}/", "team_views", True),
    ("api-experiment-start", "POST", "/api/v1/experiments/{experiment}/start/", "admin", True),
    ("api-experiment-stop", "POST", "/api/v1/experiments/{experiment}/stop/", "admin", True),
    ("api-experiment-results", "GET", "/api/v1/experiments/{experiment}/results/", "team_views", True),
    ("api-experiment-export", "GET", "/api/v1/experiments/{experiment}/results/export/", "team_views", True),
    ("api-experiment-audit", "GET", "/api/v1/experiments/{experiment}/audit/", "team_views", True),
    ("api-audit", "GET", "/api/v1/audit/", "admin", True),
    # The API's description is public (it is an open-source product's); it holds no tenant data.
    ("schema", "GET", "/api/schema/", "public", True),
    ("api-docs", "GET", "/api/docs/", "public", False),
]
# Named patterns deliberately outside the matrix, and why.
UNLISTED = {
    "logout": "POST-only sign-out of one's own session",
    "admin": "Django's admin: staff only, tested by Django (and test_admin_is_for_staff below)",
}
# Sample bodies for the writes, valid for the allowed personas.
BODIES = {
    "api-conversations": {"team": "team-a", "rep": "rita", "external_id": "matrix-new"},
    "api-conversation-turns": {"speaker": "customer", "text": "Another turn"},
    "api-conversation-close": {"outcome": "won"},
    "api-guidance-feedback": {"helpful": True},
    "api-bookmark": {},
    "api-experiments": {"name": "x", "key": "matrix-x", "hypothesis": "h", "variants": []},
}


@pytest.fixture
def world(org):
    org.team.slug, org.other_team.slug = "team-a", "team-b"
    org.team.save()
    org.other_team.save()
    conversation = make_conversation(team=org.team, rep=org.rep, external_id=SECRET_ID)
    turns = make_turns(conversation, "Hello there", SECRET_TEXT)
    guidance = Guidance.objects.create(
        conversation=conversation,
        turn=turns[1],
        guidance_version="g1",
        scoring_version="m1",
        status="ok",
        top_act="pricing",
        payload={},
    )
    experiment = make_experiment(org.admin, key="team-a-test", team_ids=[org.team.pk])
    _, team_key = ApiToken.issue(user=org.rep, team=org.team, name="rita's dialer")
    _, other_key = ApiToken.issue(user=org.admin, team=org.other_team, name="team b dialer")
    org.keys = {"team_token": team_key, "other_team_token": other_key}
    org.ids = {"conversation": conversation.pk, "guidance": guidance.pk, "experiment": experiment.key}
    org.conversation = conversation
    return org


def client_as(world, persona: str) -> APIClient:
    """A real session login for people (pages check sessions); a bearer header for tokens."""
    client = APIClient(enforce_csrf_checks=False)
    if persona in world.keys:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.keys[persona]}")
    elif persona != "anonymous":
        client.force_login(getattr(world, persona))
    return client


def denied(response, *, api: bool, persona: str) -> bool:
    if persona == "anonymous" or (not api and persona in ("team_token", "other_team_token")):
        # Pages ignore bearer tokens: a token holder is anonymous there and sent to sign in.
        if api:
            return response.status_code in (401, 403)
        return response.status_code == 302 and "/login/" in response["Location"]
    return response.status_code in (403, 404)


def allowed(response, rule: str) -> bool:
    if rule == "public":  # /health/ says 503 when no worker runs in the test: still answered
        return response.status_code in (200, 503)
    # 409/400 are allowed-but-refused-on-content (e.g. closing twice): the persona got past the checks.
    if response.status_code == 302:  # a form's redirect after success, not to the sign-in page
        return "/login/" not in response["Location"]
    return response.status_code < 300 or response.status_code in (400, 409)


def batch_item(response) -> SimpleNamespace:
    """The batch API's answer as the item's own status (the request itself is 200 once authenticated)."""
    if response.status_code != 200:
        return SimpleNamespace(status_code=response.status_code)
    (result,) = response.json()["results"]
    return SimpleNamespace(status_code=result["status"])


def _all_url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace: str = "") -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    names.add("admin")
                    continue
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(pattern.name)

    walk(get_resolver().url_patterns)
    return names


def test_every_url_pattern_is_in_the_matrix():
    listed = {name for name, *_ in MATRIX} | set(UNLISTED)
    assert _all_url_names() - listed == set(), "add the new URL to MATRIX with its rule"


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_the_persona_matrix(world, persona):
    failures = []
    turns_before = Turn.objects.filter(conversation=world.conversation).count()
    for name, method, template, rule, api in MATRIX:
        path = template.format(**world.ids)
        client = client_as(world, persona)
        if method == "GET":
            response = client.get(path)
        elif name == "api-conversations-import":
            line = json.dumps(
                {"id": f"imported-{persona}", "converted": True, "turns": [{"speaker": "rep", "text": "hi"}]}
            )
            response = client.post(path, line.encode(), content_type="application/x-ndjson")
        elif name == "api-turns-batch":
            item = {
                "conversation": world.ids["conversation"],
                "speaker": "customer",
                "text": "A batched turn",
            }
            response = client.post(path, {"turns": [item]}, format="json")
        else:
            response = client.generic(method, path, json.dumps(BODIES.get(name, {})), "application/json")
        # Pages take browser sessions only: a bearer token never opens one.
        expected_allowed = persona in RULES[rule] and (api or persona not in world.keys or rule == "public")
        checked = batch_item(response) if name == "api-turns-batch" else response
        ok = allowed(checked, rule) if expected_allowed else denied(checked, api=api, persona=persona)
        if not ok:
            failures.append(f"{method} {path} [{rule}] -> {checked.status_code}")
        if not expected_allowed and checked.status_code < 300:
            failures.append(f"{method} {path} leaked a 2xx")
        if response.status_code < 300 and persona in (
            "outsider",
            "other_manager",
            "other_team_token",
            "rep2",
        ):
            body = b"".join(response.streaming_content) if response.streaming else response.content
            if SECRET_TEXT.encode() in body or (SECRET_ID.encode() in body and persona != "rep2"):
                failures.append(f"{method} {path} shows team A's conversation")
    assert failures == [], "\n".join(failures)
    if persona not in RULES["conversation"]:
        # Nothing a denied persona sent reached the conversation.
        assert Turn.objects.filter(conversation=world.conversation).count() == turns_before
        assert Conversation.objects.get(pk=world.conversation.pk).is_open


@pytest.mark.django_db
def test_admin_is_for_staff(world):
    assert client_as(world, "manager").get("/admin/").status_code == 302
    admin = client_as(world, "admin")
    world.admin.is_staff = True
    world.admin.save()
    assert admin.get("/admin/").status_code == 200
    assert client_as(world, "other_team_token").get("/admin/").status_code == 302


# --- Websockets -------------------------------------------------------------------------------


async def _connect(path: str, user, extra_headers=()):
    headers = await sync_to_async(session_headers)(user)
    communicator = WebsocketCommunicator(application, path, headers=[*headers, *extra_headers])
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_conversation_websocket_admits_exactly_its_viewers(world):
    path = f"/ws/conversations/{world.conversation.pk}/"
    for persona in ("rep", "rep2", "outsider", "manager", "other_manager", "admin", "anonymous"):
        user = None if persona == "anonymous" else getattr(world, persona)
        communicator, connected = await _connect(path, user)
        assert connected == (persona in RULES["conversation"]), persona
        if connected:
            snapshot = await communicator.receive_json_from(timeout=5)
            assert snapshot["conversation"]["external_id"] == SECRET_ID
        await communicator.disconnect()
    # A bearer token does not open a websocket: they are for signed-in pages only.
    key = world.keys["team_token"]
    _, connected = await _connect(path, None, [(b"authorization", f"Bearer {key}".encode())])
    assert not connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_feed_websocket_delivers_team_a_events_only_to_its_viewers(world):
    receivers = {}
    for persona in ("rep", "rep2", "outsider", "manager", "other_manager", "admin"):
        communicator, connected = await _connect("/ws/feed/", getattr(world, persona))
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        receivers[persona] = communicator
    _, connected = await _connect("/ws/feed/", None)
    assert not connected

    await sync_to_async(realtime.broadcast)(
        conversation_id=world.conversation.pk,
        team_id=world.team.pk,
        rep_id=world.rep.pk,
        payload={"type": "turn", "text": SECRET_TEXT},
    )
    for persona, communicator in receivers.items():
        if persona in RULES["conversation"]:
            event = await communicator.receive_json_from(timeout=5)
            assert event["text"] == SECRET_TEXT, persona
        else:
            assert await communicator.receive_nothing(timeout=0.3), f"{persona} received team A's event"
        await communicator.disconnect()
