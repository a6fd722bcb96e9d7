"""Tokens, rate limits, CSRF, security headers, secrets and the audit log."""

from __future__ import annotations

import re
import subprocess
from io import StringIO

import pytest

from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings
from rest_framework.test import APIClient

from conversations.models import ApiToken, AuditEvent, Turn
from salesrl.ratelimit import Rate
from tests.factories import make_conversation, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    # Rate-limit counters live in the (test) Redis cache; each test starts from zero.
    cache.clear()
    yield
    cache.clear()


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body["error"]) == {"status", "code", "message", "details"}
    assert body["error"]["status"] == status and body["error"]["code"] == code
    return body


# --- API tokens -------------------------------------------------------------------------------


class TestTokens:
    def test_a_token_is_only_issued_for_a_team_of_its_user(self, org):
        with pytest.raises(ValueError, match="not a member"):
            ApiToken.issue(user=org.rep, team=org.other_team, name="wrong team")
        token, key = ApiToken.issue(user=org.admin, team=org.team, name="admins may pick any team")
        assert token.team == org.team
        assert token.key_hash == ApiToken.hash_key(key) and key not in token.key_hash
        assert token.prefix == key[:12]

    def test_a_managers_token_reaches_only_its_team_even_where_the_manager_manages_two(self, org):
        make_user("multi", team=org.team, role="manager")
        multi = org.team.memberships.get(user__username="multi").user
        multi.memberships.create(team=org.other_team, role="manager")
        ours = make_conversation(team=org.team, rep=org.rep, external_id="ours")
        theirs = make_conversation(team=org.other_team, rep=org.outsider, external_id="theirs")
        _, key = ApiToken.issue(user=multi, team=org.team, name="team a only")
        client = bearer(key)
        listed = [c["external_id"] for c in client.get("/api/v1/conversations/").json()["results"]]
        assert listed == ["ours"]
        assert client.get(f"/api/v1/conversations/{theirs.pk}/").status_code == 404
        assert client.get(f"/api/v1/conversations/{ours.pk}/").status_code == 200
        response = client.post(
            "/api/v1/conversations/", {"team": org.other_team.slug, "rep": "sam"}, format="json"
        )
        assert_error(response, 403, "forbidden_rep")
        # The same manager in a browser session sees both teams.
        session = APIClient()
        session.force_login(multi)
        assert session.get("/api/v1/conversations/").json()["count"] == 2

    def test_a_revoked_token_stops_working_at_once_and_the_revocation_is_audited(self, org):
        conversation = make_conversation(team=org.team, rep=org.rep)
        token, key = ApiToken.issue(user=org.rep, team=org.team, name="dialer")
        client = bearer(key)
        url = f"/api/v1/conversations/{conversation.pk}/turns/"
        assert client.post(url, {"speaker": "rep", "text": "Hi"}, format="json").status_code == 201
        out = StringIO()
        call_command("revoke_api_token", token.prefix, stdout=out)
        assert "Revoked 1" in out.getvalue()
        assert_error(
            client.post(url, {"speaker": "rep", "text": "Again"}, format="json"), 401, "authentication_failed"
        )
        assert Turn.objects.filter(conversation=conversation).count() == 1
        event = AuditEvent.objects.get(action="token.revoked")
        assert event.target_id == str(token.pk) and event.team == org.team

    def test_the_command_issues_a_team_token_and_audits_it(self, org):
        out, err = StringIO(), StringIO()
        call_command("create_api_token", "rita", "--team", org.team.slug, stdout=out, stderr=err)
        key = out.getvalue().strip()
        assert (
            key.startswith("srl_") and ApiToken.objects.get(key_hash=ApiToken.hash_key(key)).team == org.team
        )
        assert AuditEvent.objects.filter(action="token.issued", team=org.team).exists()

    def test_a_token_cannot_be_used_in_the_browser(self, org):
        _, key = ApiToken.issue(user=org.manager, team=org.team, name="dialer")
        response = Client().get("/dashboard/", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 302 and "/login/" in response["Location"]


# --- Rate limits ------------------------------------------------------------------------------


class TestRateLimits:
    def test_rates_parse_and_malformed_ones_are_refused(self):
        assert Rate.parse("600/minute") == Rate(600, 60)
        assert Rate.parse("10/15min") == Rate(10, 900)
        assert Rate.parse("off") is None
        with pytest.raises(Exception, match="must look like"):
            Rate.parse("fast", setting="SALESRL_RATE_LIMIT_INGEST")

    @override_settings(SALESRL_RATE_LIMIT_INGEST="3/minute")
    def test_ingest_over_the_limit_is_a_429_with_retry_after_and_nothing_is_stored(self, org):
        conversation = make_conversation(team=org.team, rep=org.rep)
        _, key = ApiToken.issue(user=org.rep, team=org.team, name="dialer")
        client = bearer(key)
        url = f"/api/v1/conversations/{conversation.pk}/turns/"
        for i in range(3):
            assert client.post(url, {"speaker": "rep", "text": f"turn {i}"}, format="json").status_code == 201
        response = client.post(url, {"speaker": "rep", "text": "one too many"}, format="json")
        assert_error(response, 429, "throttled")
        assert 1 <= int(response["Retry-After"]) <= 61
        assert Turn.objects.filter(conversation=conversation).count() == 3
        # Reads are not ingest; another token has its own budget.
        assert client.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 200
        _, other = ApiToken.issue(user=org.rep, team=org.team, name="second dialer")
        assert bearer(other).post(url, {"speaker": "rep", "text": "x"}, format="json").status_code == 201

    @override_settings(
        SALESRL_RATE_LIMIT_INGEST="1/minute",
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            }
        },
    )
    def test_limits_fail_open_when_redis_is_unreachable(self, org):
        from django.core.cache import caches

        caches._settings = None  # let override_settings' CACHES take effect for the shared handler
        conversation = make_conversation(team=org.team, rep=org.rep)
        client = APIClient()
        client.force_authenticate(org.rep)
        url = f"/api/v1/conversations/{conversation.pk}/turns/"
        for i in range(3):
            assert client.post(url, {"speaker": "rep", "text": f"t{i}"}, format="json").status_code == 201

    @override_settings(SALESRL_RATE_LIMIT_LOGIN="3/15min")
    def test_repeated_failed_sign_ins_lock_the_username_out_with_429(self, org):
        client = Client()
        for _ in range(3):
            response = client.post("/login/", {"username": "rita", "password": "wrong"})
            assert response.status_code == 200
        response = client.post("/login/", {"username": "rita", "password": "pw-for-tests"})
        assert response.status_code == 429 and int(response["Retry-After"]) > 0
        assert b"Too many failed sign-ins" in response.content
        assert "_auth_user_id" not in client.session  # even the right password waits out the lock
        # Another username from the same address is not locked by rita's failures.
        response = client.post("/login/", {"username": "maria", "password": "pw-for-tests"})
        assert response.status_code == 302
        actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
        assert actions.count("login.failed") == 3 and "login.locked_out" in actions
        assert actions[-1] == "login.succeeded"

    def test_the_admin_sign_in_is_the_rate_limited_one(self):
        response = Client().get("/admin/login/?next=/admin/")
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=/admin/")


# --- CSRF and headers -------------------------------------------------------------------------


class TestCsrfAndHeaders:
    def test_forms_and_session_api_writes_need_the_csrf_token(self, org):
        conversation = make_conversation(team=org.team, rep=org.rep)
        client = Client(enforce_csrf_checks=True)
        client.force_login(org.rep)
        # A page form (sign-out) and a session-authenticated API write, both without the token.
        assert client.post("/logout/").status_code == 403
        response = client.post(
            f"/api/v1/conversations/{conversation.pk}/turns/",
            {"speaker": "rep", "text": "forged"},
            content_type="application/json",
        )
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
        assert not Turn.objects.filter(conversation=conversation).exists()
        # With the token from the cookie (what the live page sends) the write goes through.
        client.get("/")
        token = client.cookies["csrftoken"].value
        response = client.post(
            f"/api/v1/conversations/{conversation.pk}/turns/",
            {"speaker": "rep", "text": "real"},
            content_type="application/json",
            headers={"X-CSRFToken": token},
        )
        assert response.status_code == 201

    def test_a_bearer_token_needs_no_csrf_token(self, org):
        # Not a cookie: a cross-site page cannot make the browser send it, so CSRF does not apply.
        conversation = make_conversation(team=org.team, rep=org.rep)
        _, key = ApiToken.issue(user=org.rep, team=org.team, name="dialer")
        client = APIClient(enforce_csrf_checks=True)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        url = f"/api/v1/conversations/{conversation.pk}/turns/"
        assert client.post(url, {"speaker": "rep", "text": "Hi"}, format="json").status_code == 201

    @pytest.mark.parametrize("path", ["/login/", "/", "/api/v1/conversations/", "/health/", "/api/docs/"])
    def test_security_headers_on_pages_and_api(self, org, path):
        client = Client()
        client.force_login(org.manager)
        response = client.get(path)
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
        assert "camera=()" in response["Permissions-Policy"]

    def test_templates_have_no_inline_scripts_or_handlers(self):
        # The policy forbids them; json_script data blocks (type="application/json") are not run.
        for template in (settings.BASE_DIR / "templates").rglob("*.html"):
            text = template.read_text()
            assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text), template
            assert not re.search(r"\son[a-z]+=\"", text), template

    def test_sessions_cookies_are_http_only_and_same_site(self):
        assert settings.SESSION_COOKIE_HTTPONLY and settings.SESSION_COOKIE_SAMESITE == "Lax"
        assert settings.CSRF_COOKIE_SAMESITE == "Lax"


def test_no_secret_is_committed():
    """Secrets come from the environment (or a *_FILE): none is in a tracked file."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=settings.BASE_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    patterns = [
        re.compile(rb"sk-[A-Za-z0-9]{32,}"),  # OpenAI keys
        re.compile(rb"srl_[A-Za-z0-9_-]{40,}"),  # SalesRL API keys
        re.compile(rb"SECRET_KEY\s*=\s*['\"][^'\"]{20,}['\"]"),
        re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    ]
    offenders = []
    for name in files:
        path = settings.BASE_DIR / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        data = path.read_bytes()
        offenders += [name for pattern in patterns if pattern.search(data)]
    assert offenders == []


# --- Audit log --------------------------------------------------------------------------------


class TestAuditLog:
    def test_admin_site_changes_are_audited_and_the_log_is_read_only(self, org):
        org.admin.is_staff = org.admin.is_superuser = True
        org.admin.save()
        client = Client()
        client.force_login(org.admin)
        response = client.post(
            f"/admin/conversations/team/{org.team.pk}/change/",
            {
                "name": org.team.name,
                "slug": org.team.slug,
                "reps_see_team_views": "on",
                "created_at_0": "2026-01-01",
                "created_at_1": "00:00:00",
                "memberships-TOTAL_FORMS": "0",
                "memberships-INITIAL_FORMS": "0",
            },
        )
        assert response.status_code == 302, response.content[:2000]
        event = AuditEvent.objects.get(action="admin.change")
        assert event.actor == org.admin and event.target_type == "conversations.team"
        assert event.target_id == str(org.team.pk) and "reps" in str(event.details).lower()
        audit_page = client.get("/admin/conversations/auditevent/")
        assert audit_page.status_code == 200
        assert client.get(f"/admin/conversations/auditevent/{event.pk}/delete/").status_code == 403

    def test_admins_read_the_audit_api_others_get_403(self, org):
        other = make_team("Elsewhere")
        make_user("zed", team=other)
        ApiToken.issue(user=org.rep, team=org.team, name="x")
        call_command("revoke_api_token", "--user", "rita", stdout=StringIO())
        admin = APIClient()
        admin.force_login(org.admin)
        body = admin.get("/api/v1/audit/?action=token.").json()
        assert [e["action"] for e in body["results"]] == ["token.revoked"]
        assert body["results"][0]["team"] == org.team.slug
        for persona in (org.manager, org.rep):
            client = APIClient()
            client.force_login(persona)
            assert_error(client.get("/api/v1/audit/"), 403, "forbidden")
        _, key = ApiToken.issue(user=org.admin, team=org.team, name="admin token")
        assert_error(bearer(key).get("/api/v1/audit/"), 403, "forbidden")


def test_deleting_several_objects_in_the_admin_audits_each(org):
    org.admin.is_staff = org.admin.is_superuser = True
    org.admin.save()
    tokens = [ApiToken.issue(user=org.rep, team=org.team, name=f"t{i}")[0] for i in range(2)]
    client = Client()
    client.force_login(org.admin)
    response = client.post(
        "/admin/conversations/apitoken/",
        {"action": "delete_selected", "_selected_action": [t.pk for t in tokens], "post": "yes"},
    )
    assert response.status_code == 302
    assert not ApiToken.objects.exists()
    deleted = AuditEvent.objects.filter(action="admin.delete", target_type="conversations.apitoken")
    assert sorted(deleted.values_list("target_id", flat=True)) == sorted(str(t.pk) for t in tokens)
