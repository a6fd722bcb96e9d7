from django.urls import path

from . import views

urlpatterns = [
    path("experiments/", views.experiment_list, name="experiments"),
    path("experiments/new/", views.experiment_new, name="experiment-new"),
    path("experiments/<slug:key>/", views.experiment_results, name="experiment-results"),
    path("experiments/<slug:key>/edit/", views.experiment_edit, name="experiment-edit"),
    path("experiments/<slug:key>/start/", views.experiment_start, name="experiment-start"),
    path("experiments/<slug:key>/stop/", views.experiment_stop, name="experiment-stop"),
]
