from django.urls import path

from . import api

urlpatterns = [
    path("experiments/", api.ExperimentListApi.as_view(), name="api-experiments"),
    path("experiments/plan/", api.PlanApi.as_view(), name="api-experiment-plan"),
    path("experiments/<slug:key>/", api.ExperimentDetailApi.as_view(), name="api-experiment"),
    path("experiments/<slug:key>/start/", api.ExperimentStartApi.as_view(), name="api-experiment-start"),
    path("experiments/<slug:key>/stop/", api.ExperimentStopApi.as_view(), name="api-experiment-stop"),
    path(
        "experiments/<slug:key>/results/", api.ExperimentResultsApi.as_view(), name="api-experiment-results"
    ),
    path(
        "experiments/<slug:key>/results/export/",
        api.ExperimentExportApi.as_view(),
        name="api-experiment-export",
    ),
    path("experiments/<slug:key>/audit/", api.ExperimentAuditApi.as_view(), name="api-experiment-audit"),
]
