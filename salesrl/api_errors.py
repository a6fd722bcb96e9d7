"""One error shape for every API failure.

Every 4xx/5xx from the API has the body::

    {"error": {"status": 400, "code": "validation_error", "message": "...", "details": {...}}}

`code` is stable and machine-readable; `message` is for people; `details` carries per-field
messages for validation errors and context (e.g. the expected turn index) for conflicts.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class ErrorSerializer(serializers.Serializer):
    """The error shape, for the OpenAPI schema."""

    error = ErrorDetailSerializer()


class DomainError(exceptions.APIException):
    """A request that is well-formed but conflicts with what is stored (closed conversation, …)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."

    def __init__(self, message: str, *, code: str, status_code: int = 409, details: Any = None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.details = details or {}


_CODES = {
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "validation_error",
}


def error_body(status_code: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"status": status_code, "code": code, "message": message, "details": details or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        # Django's own answer would be its HTML 400 page.
        exc = DomainError(
            f"The request body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes accepted.",
            code="too_large",
            status_code=413,
        )

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: let Django log it and answer 500

    if isinstance(exc, DomainError):
        code, message, details = exc.error_code, str(exc.detail), exc.details
    elif isinstance(exc, exceptions.ValidationError):
        code = "validation_error"
        message = "The request has invalid fields."
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    else:
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
        message = str(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
        details = {}
    response.data = error_body(response.status_code, code, message, details)
    return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404. A path under /api/ that matches no route (a non-numeric id, an experiment key with
    characters a slug cannot hold) answers with the API's error shape, not Django's HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(404, "not_found", "Not found."), status=404)
    return page_not_found(request, exception)
