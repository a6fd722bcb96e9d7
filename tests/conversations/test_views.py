"""Pages: who may open what."""

from __future__ import annotations

import pytest

from tests.factories import make_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(org):
    return make_conversation(team=org.team, rep=org.rep, external_id="call-1")


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("rep", 200),
        ("manager", 200),
        ("admin", 200),
        ("rep2", 404),
        ("outsider", 404),
        ("other_manager", 404),
    ],
)
def test_the_live_page_is_for_people_who_may_see_the_conversation(client, org, conversation, persona, status):
    client.force_login(getattr(org, persona))
    response = client.get(f"/conversations/{conversation.pk}/")
    assert response.status_code == status
    if status == 200:
        assert b'id="snapshot"' in response.content and b"call-1" in response.content


def test_anonymous_visitors_are_sent_to_log_in(client, conversation):
    for url in ("/", f"/conversations/{conversation.pk}/", "/conversations/table/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_list_shows_only_visible_conversations(client, org, conversation):
    make_conversation(team=org.other_team, rep=org.outsider, external_id="elsewhere")
    client.force_login(org.manager)
    content = client.get("/").content
    assert b"call-1" in content and b"elsewhere" not in content
    client.force_login(org.outsider)
    content = client.get("/conversations/table/").content
    assert b"call-1" not in content and b"elsewhere" in content


def test_the_list_query_count_does_not_grow_with_conversations(client, org, django_assert_max_num_queries):
    for i in range(20):
        make_conversation(team=org.team, rep=org.rep, external_id=f"c{i}")
    client.force_login(org.manager)
    with django_assert_max_num_queries(8):
        assert client.get("/conversations/table/").status_code == 200
