from django.urls import path

from . import api

urlpatterns = [
    path(
        "conversations/<int:pk>/guidance/",
        api.ConversationGuidanceApi.as_view(),
        name="api-conversation-guidance",
    ),
    path("guidance/<int:pk>/feedback/", api.GuidanceFeedbackApi.as_view(), name="api-guidance-feedback"),
    path("dashboard/overview/", api.DashboardOverviewApi.as_view(), name="api-dashboard-overview"),
    path("dashboard/reps/<str:username>/", api.DashboardRepApi.as_view(), name="api-dashboard-rep"),
    path("library/", api.LibraryApi.as_view(), name="api-library"),
    path("library/export/", api.LibraryExportApi.as_view(), name="api-library-export"),
    path("live-wall/", api.LiveWallApi.as_view(), name="api-live-wall"),
    path("conversations/<int:pk>/bookmark/", api.BookmarkApi.as_view(), name="api-bookmark"),
]
