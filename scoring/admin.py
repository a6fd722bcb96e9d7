from django.contrib import admin, messages

from .models import ScoringModel


@admin.register(ScoringModel)
class ScoringModelAdmin(admin.ModelAdmin):
    list_display = ["version", "is_active", "training_source", "validation_auc", "created_at", "activated_at"]
    list_filter = ["is_active"]
    readonly_fields = [
        "version",
        "path",
        "sha256",
        "sidecar",
        "metrics",
        "training_source",
        "created_at",
        "activated_at",
        "is_active",
    ]
    actions = ["activate"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # versions come from training (manage.py train_model), not from a form

    @admin.display(description="validation AUC")
    def validation_auc(self, obj: ScoringModel) -> str:
        stage = obj.sidecar.get("training", {}).get("chosen_stage", "")
        auc = obj.metrics.get("validation", {}).get(stage, {}).get("auc")
        return f"{auc:.3f}" if isinstance(auc, float) else "—"

    @admin.action(description="Activate (score live turns with it)")
    def activate(self, request, queryset):  # type: ignore[no-untyped-def]
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        model = queryset.get()
        model.activate()
        self.message_user(request, f"{model.version} is now active.")
