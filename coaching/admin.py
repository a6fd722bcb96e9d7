from django.contrib import admin

from .models import Guidance, GuidanceFeedback, GuidanceModel


@admin.register(GuidanceModel)
class GuidanceModelAdmin(admin.ModelAdmin):
    list_display = ["version", "scoring_model", "training_source", "created_at"]
    readonly_fields = ["version", "scoring_model", "path", "meta", "training_source", "created_at"]


@admin.register(Guidance)
class GuidanceAdmin(admin.ModelAdmin):
    """What reps were shown; read-only, it is the record the feedback and later analyses refer to."""

    list_display = ["conversation", "turn", "status", "top_act", "guidance_version", "created_at"]
    list_filter = ["status", "top_act"]
    list_select_related = ["conversation", "turn"]
    readonly_fields = [f.name for f in Guidance._meta.fields]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(GuidanceFeedback)
class GuidanceFeedbackAdmin(admin.ModelAdmin):
    list_display = ["guidance", "user", "helpful", "updated_at"]
    list_filter = ["helpful"]
    list_select_related = ["guidance", "user"]
