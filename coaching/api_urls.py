from django.urls import path

from . import api

urlpatterns = [
    path(
        "conversations/<int:pk>/guidance/",
        api.ConversationGuidanceApi.as_view(),
        name="api-conversation-guidance",
    ),
    path("guidance/<int:pk>/feedback/", api.GuidanceFeedbackApi.as_view(), name="api-guidance-feedback"),
]
