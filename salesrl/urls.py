from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from conversations.views import SignInView

from .health import health

urlpatterns = [
    path("", include("conversations.urls")),
    path("", include("coaching.urls")),
    path("", include("experiments.urls")),
    path("api/v1/", include("conversations.api_urls")),
    path("api/v1/", include("coaching.api_urls")),
    path("api/v1/", include("experiments.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("health/", health, name="health"),
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One sign-in page for the product and the admin, so the admin's is rate limited too.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
]

handler404 = "salesrl.api_errors.not_found"
