"""Downloads that stream under daphne as well as under WSGI and the test client.

Django's ASGI handler reads a *sync* streaming iterator whole into memory before sending a byte
(StreamingHttpResponse.__aiter__: "must consume synchronous iterators"), so a 100k-conversation export
would sit in the web process. Under ASGI the response gets an async iterator instead, which pulls about
CHUNK_BYTES at a time from the sync one in Django's single sync thread (thread_sensitive), where the
database connection and any transaction the iterator opened live.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

CHUNK_BYTES = 64 * 1024


def _take(chunks: Iterator[str]) -> str | None:
    """Join items from `chunks` up to about CHUNK_BYTES; None once it is exhausted."""
    parts: list[str] = []
    size = 0
    for part in chunks:
        parts.append(part)
        size += len(part)
        if size >= CHUNK_BYTES:
            break
    return "".join(parts) if parts else None


async def _pull(chunks: Iterator[str]) -> AsyncIterator[str]:
    take = sync_to_async(_take, thread_sensitive=True)
    while (chunk := await take(chunks)) is not None:
        yield chunk


def download(
    request: Any, chunks: Iterator[str], *, content_type: str, filename: str
) -> StreamingHttpResponse:
    """A streamed attachment of `chunks` (text); `request` may be Django's or DRF's."""
    raw = getattr(request, "_request", request)
    content = _pull(chunks) if isinstance(raw, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
