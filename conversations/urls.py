from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("conversations/table/", views.conversation_table, name="conversation-table"),
    path("conversations/<int:pk>/", views.live, name="conversation-live"),
]
