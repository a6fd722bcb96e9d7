from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from conversations import audit

from .charts import reliability_svg
from .models import ScoringModel


@admin.register(ScoringModel)
class ScoringModelAdmin(admin.ModelAdmin):
    list_display = ["version", "is_active", "training_source", "validation_auc", "created_at", "activated_at"]
    list_filter = ["is_active"]
    readonly_fields = [
        "version",
        "calibration",
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

    @admin.display(description="calibration")
    def calibration(self, obj: ScoringModel) -> str:
        """The reliability diagram and ECE of this version: validation split before and after calibration,
        and every evaluation report stored with it (e.g. cross-validation on a JSONL file)."""
        report = obj.metrics.get("calibration")
        if not report:
            return (
                "Not calibrated (a version trained before calibration existed): probabilities are served raw."
            )
        series = {
            "uncalibrated": report["reliability_uncalibrated"],
            f"calibrated ({report['method'].replace('_', ' ')})": report["reliability_calibrated"],
        }
        rows = [
            ("validation split, uncalibrated", report["ece_uncalibrated"]),
            ("validation split, calibrated (in-sample)", report["ece_calibrated"]),
        ]
        for name, evaluation in obj.metrics.items():
            if (
                isinstance(evaluation, dict)
                and isinstance(evaluation.get("ece"), float)
                and name != "validation"
            ):
                rows.append((name, evaluation["ece"]))
                if evaluation.get("reliability"):
                    series[name] = evaluation["reliability"]
        table = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((n, f"{v:.3f}") for n, v in rows))
        return format_html(
            "<div>{}</div><table><tr><th>ECE (10 bins)</th><th></th></tr>{}</table>",
            mark_safe(reliability_svg(series)),  # numbers and escaped labels only (scoring.charts)
            table,
        )

    @admin.action(description="Activate (score live turns with it)")
    def activate(self, request, queryset):  # type: ignore[no-untyped-def]
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        model = queryset.get()
        model.activate()
        # Admin actions write no LogEntry of their own: record the switch, it changes every live score.
        audit.record("model.activated", request=request, target=model)
        self.message_user(request, f"{model.version} is now active.")
