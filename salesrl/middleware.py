"""A database or Redis outage met by a view answers 503 with Retry-After, never a 500.

Django calls process_exception for exceptions a view (or a template it renders) raises; DRF's
exception handler returns None for these errors, so API views end up here too. The answer is built
without templates: the project's context processors query the database that just failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from kombu.exceptions import OperationalError as BrokerError

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from .api_errors import error_body

logger = logging.getLogger(__name__)

# Long enough for a restarting PostgreSQL or Redis, short enough that a client's retry finds it back.
RETRY_AFTER_S = 5

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>
<body><h1>Temporarily unavailable</h1><p>{what} is not answering. Please try again in a few seconds.</p>
</body></html>
"""

# (exception types, error code, what failed in words). Redis errors should not reach a view (pushes,
# enqueues and rate limits already log and go on), but if one does, it is still an outage, not a bug.
_OUTAGES: list[tuple[tuple[type[BaseException], ...], str, str]] = [
    ((OperationalError, InterfaceError), "database_unavailable", "The database"),
    ((redis.ConnectionError, redis.TimeoutError, BrokerError), "service_unavailable", "A backing service"),
]


class ServiceUnavailableMiddleware:
    # Sync-only, and last in MIDDLEWARE: under ASGI, Django adapts each middleware that can do both to
    # the mode of the one inside it, so a sync-only innermost middleware puts the whole chain in sync
    # mode. The views are synchronous (DRF), so that is one thread hop per request (and one for the view)
    # instead of one per hook of every middleware.
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        outage = next((o for o in _OUTAGES if isinstance(exception, o[0])), None)
        if outage is None:
            return None  # not an outage: Django logs it and answers 500
        _, code, what = outage
        # One line, no traceback: during an outage every request lands here.
        logger.warning(
            "%s %s: 503 %s (%s: %s)", request.method, request.path, code, type(exception).__name__, exception
        )
        response: HttpResponse
        if request.path.startswith("/api/"):
            message = f"{what} is temporarily unavailable; retry in a few seconds."
            response = JsonResponse(error_body(503, code, message), status=503)
        else:
            response = HttpResponse(
                _PAGE.format(what=what), status=503, content_type="text/html; charset=utf-8"
            )
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
