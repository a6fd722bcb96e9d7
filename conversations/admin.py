from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from . import audit
from .models import ApiToken, AuditEvent, Conversation, Membership, Team, Turn

# Bulk deletions bypass the LogEntry signal the audit log mirrors: replace the site-wide action.
admin.site.add_action(audit.audited_delete_selected, "delete_selected")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "reps_see_team_views", "created_at"]
    list_editable = ["reps_see_team_views"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]
    autocomplete_fields = ["user", "team"]


class TurnInline(admin.TabularInline):
    model = Turn
    extra = 0
    fields = ["index", "speaker", "text", "ts", "duration_s"]
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "external_id", "team", "rep", "channel", "status", "started_at"]
    list_filter = ["status", "channel", "team"]
    search_fields = ["external_id", "industry"]
    date_hierarchy = "started_at"
    list_select_related = ["team", "rep"]
    inlines = [TurnInline]


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "team", "name"]

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        user, team = data.get("user"), data.get("team")
        if self.instance.pk is None and user and team and not ApiToken.may_issue(user=user, team=team):
            raise ValidationError(
                f"{user} is not a member of {team}: a token is only for one of their teams."
            )
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["name", "user", "team", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "team"]
    list_select_related = ["user", "team"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["user", "team", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    autocomplete_fields = ["user", "team"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # A token's owner and team are what it may reach: changing them would widen a key already handed
        # out. Issue a new token instead.
        return [*self.readonly_fields, "user", "team"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = ApiToken.issue(user=obj.user, team=obj.team, name=obj.name)
        obj.pk, obj.prefix, obj.key_hash = token.pk, token.prefix, token.key_hash
        audit.record("token.issued", request=request, target=token, team=token.team_id)
        self.message_user(
            request, f"Token created. Copy it now, it is not shown again: {key}", messages.WARNING
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            if token.revoke():
                audit.record("token.revoked", request=request, target=token, team=token.team_id)
                count += 1
        self.message_user(request, f"Revoked {count} token(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log, read-only: entries are appended by the product, never edited."""

    list_display = ["at", "actor_name", "action", "target_type", "target_repr", "team", "ip"]
    list_filter = ["action", "team"]
    search_fields = ["actor_name", "action", "target_repr"]
    date_hierarchy = "at"
    list_select_related = ["team"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
