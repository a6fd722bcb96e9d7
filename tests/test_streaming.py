"""Downloads stream under daphne (ASGI) in chunks, and give the same bytes as under WSGI."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator

from django.db import connections
from django.test import Client
from django.urls import reverse

from salesrl import streaming
from salesrl.asgi import application
from tests.coaching.team_data import make_scored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _seed(org):
    for n in range(30):
        make_scored(
            team=org.team, rep=org.rep, texts=[f"Hello number {n}", "Hi " * 50], probabilities=[0.5, 0.4]
        )
    client = Client()
    client.force_login(org.manager)
    return client


async def test_an_export_streams_under_asgi_with_the_bytes_of_wsgi(org, monkeypatch):
    client = await sync_to_async(_seed)(org)
    url = reverse("api-library-export") + "?format=jsonl"
    wsgi = await sync_to_async(lambda: b"".join(client.get(url).streaming_content))()
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 1024)  # several chunks for a small export
    taken: list[int] = []
    original = streaming._take

    def counting(chunks):
        chunk = original(chunks)
        taken.append(0 if chunk is None else len(chunk))
        return chunk

    monkeypatch.setattr(streaming, "_take", counting)
    headers = [
        (b"host", b"testserver"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=20)
    assert start["type"] == "http.response.start" and start["status"] == 200
    body = []
    while True:  # the last message may carry no body (the ASGI spec makes it optional)
        message = await communicator.receive_output(timeout=20)
        body.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    assert b"".join(body) == wsgi and wsgi.count(b"\n") == 30
    assert len([n for n in taken if n]) > 3  # pulled in pieces, not read whole first
    # The chunks were read in asgiref's sync thread: close its connection so the test database can go.
    await sync_to_async(connections.close_all, thread_sensitive=True)()
