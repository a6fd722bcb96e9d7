from django.urls import path

from . import api

urlpatterns = [
    path("audit/", api.AuditLogApi.as_view(), name="api-audit"),
    path("conversations/", api.ConversationListCreateApi.as_view(), name="api-conversations"),
    path("conversations/import/", api.ConversationImportApi.as_view(), name="api-conversations-import"),
    path("conversations/export/", api.ConversationExportApi.as_view(), name="api-conversations-export"),
    path("conversations/<int:pk>/", api.ConversationDetailApi.as_view(), name="api-conversation"),
    path("conversations/<int:pk>/turns/", api.TurnAppendApi.as_view(), name="api-conversation-turns"),
    path("turns/", api.TurnBatchApi.as_view(), name="api-turns-batch"),
    path("conversations/<int:pk>/close/", api.ConversationCloseApi.as_view(), name="api-conversation-close"),
]
