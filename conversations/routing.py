from django.urls import path

from .consumers import ConversationConsumer, FeedConsumer

websocket_urlpatterns = [
    path("ws/conversations/<int:conversation_id>/", ConversationConsumer.as_asgi()),
    path("ws/feed/", FeedConsumer.as_asgi()),
]
