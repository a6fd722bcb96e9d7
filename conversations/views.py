"""Server-rendered pages. Data comes from QuerySet methods and the API serializers."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.db.models import Case, Count, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from experiments import services as experiments
from salesrl import ratelimit

from . import audit
from .models import Conversation, ConversationStatus, Speaker, is_org_admin, managed_team_ids
from .serializers import conversation_snapshot

LIST_LIMIT = 100


def _table_context(request: HttpRequest) -> dict[str, object]:
    visible = Conversation.objects.visible_to(request.user)
    conversations = (
        visible.select_related("team", "rep")
        .annotate(turn_count=Count("turns"))
        # Open conversations first, newest first within each group.
        .alias(closed_rank=Case(When(status=ConversationStatus.OPEN, then=Value(0)), default=Value(1)))
        .order_by("closed_rank", "-started_at", "-id")[:LIST_LIMIT]
    )
    return {"conversations": conversations, "total": visible.count(), "limit": LIST_LIMIT}


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = _table_context(request)
    context["is_admin"] = is_org_admin(request.user)
    context["managed_teams"] = len(managed_team_ids(request.user))
    return render(request, "conversations/home.html", context)


@login_required
@require_GET
def conversation_table(request: HttpRequest) -> HttpResponse:
    """The list's table alone, re-fetched by home.js when a live event arrives."""
    return render(request, "conversations/_table.html", _table_context(request))


@login_required
@require_GET
def live(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(
        Conversation.objects.visible_to(request.user).select_related("team", "rep"), pk=pk
    )
    # An experiment may withhold guidance from this conversation's rep; the rep opening the page is
    # the exposure to their arm (a manager watching is not).
    arm = experiments.arm_for(conversation.pk)
    experiments.record_exposure(arm=arm, user=request.user, rep_id=conversation.rep_id, surface="live_page")
    return render(
        request,
        "conversations/live.html",
        {
            "conversation": conversation,
            "show_guidance": arm is None or arm.show_guidance,
            "snapshot": conversation_snapshot(conversation),
            "speakers": Speaker.choices,
            # The viewer's own open conversations, to switch between calls without going back.
            "open_conversations": Conversation.objects.filter(rep=request.user)
            .open()
            .order_by("-started_at")[:10],
        },
    )


class SignInView(LoginView):
    """Django's sign-in with a lock-out after repeated failures (per username and address, and per
    address alone), so passwords cannot be guessed at speed. A locked-out attempt is refused with 429
    before the password is even checked, and recorded in the audit log."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ip = audit.client_ip(request) or "unknown"
        username = str(request.POST.get("username", ""))[:150].lower()
        checks = [
            ("login", f"{ip}:{username}", ratelimit.configured("SALESRL_RATE_LIMIT_LOGIN")),
            ("login-ip", ip, ratelimit.configured("SALESRL_RATE_LIMIT_LOGIN_PER_IP")),
        ]
        for scope, key, rate in checks:
            verdict = ratelimit.peek(scope, key, rate)
            if not verdict.allowed:
                audit.record(
                    "login.locked_out", request=request, actor_name=username, details={"scope": scope}
                )
                minutes = max(1, round(verdict.retry_after_s / 60))
                response = self.render_to_response(
                    self.get_context_data(form=self.get_form(), locked_out_minutes=minutes), status=429
                )
                response["Retry-After"] = str(verdict.retry_after_s)
                return response
        response = super().post(request, *args, **kwargs)
        if not request.user.is_authenticated:  # the form was invalid: count the failure
            for scope, key, rate in checks:
                ratelimit.hit(scope, key, rate)
        return response
