"""Downloads that stream under daphne as well as under WSGI and the test client.

Django's ASGI handler reads a *sync* streaming iterator whole into memory before sending a byte
(StreamingHttpResponse.__aiter__: "must consume synchronous iterators"), so a 100k-conversation export
would sit in the web process. Under ASGI the response gets an async iterator instead, which pulls about
CHUNK_BYTES at a time from the sync one in Django's single sync thread (thread_sensitive), where the
database connection and any transaction the iterator opened live.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from asgiref.sync import sync_to_async

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

CHUNK_BYTES = 64 * 1024
# A cell starting with one of these is a formula to a spreadsheet (CSV injection): quote it as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    """A CSV file as chunks of a few hundred rows, every cell through safe_cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for number, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(v) for v in row])
        if number % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


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
