from django.urls import path

from . import views

urlpatterns = [
    path("dashboard/", views.overview, name="dashboard"),
    path("dashboard/reps/<str:username>/", views.rep_page, name="dashboard-rep"),
    path("wall/", views.wall, name="live-wall"),
    path("library/", views.library_page, name="library"),
    path("library/<int:pk>/", views.library_detail, name="library-detail"),
]
