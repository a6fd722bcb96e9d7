"""Bearer-token authentication for integrations: `Authorization: Bearer srl_…`."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .models import TOKEN_PREFIX, TOKEN_TEAM_ATTRIBUTE, ApiToken

# last_used_at is refreshed at most this often, so busy integrations do not write on every call.
_TOUCH_INTERVAL = dt.timedelta(minutes=1)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not key.startswith(TOKEN_PREFIX):
            raise exceptions.AuthenticationFailed("Invalid token.")
        token = (
            ApiToken.objects.active().select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        # Every access rule reads the scope from the user (conversations.models.token_team_id).
        setattr(token.user, TOKEN_TEAM_ATTRIBUTE, token.team_id)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_INTERVAL:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):  # type: ignore[no-untyped-def]
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "conversations.authentication.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (srl_…) from an admin; it acts as its user within one team.",
        }
