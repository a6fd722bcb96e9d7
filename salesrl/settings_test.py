"""Test settings: the real services, on their own Redis database so a running demo is untouched."""

from urllib.parse import urlsplit, urlunsplit

from .settings import *  # noqa: F403
from .settings import CHANNEL_LAYERS, REDIS_URL, env, envbool, envint

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405


def _redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


REDIS_URL = env("SALESRL_TEST_REDIS_URL", _redis_db(REDIS_URL, 15))
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
CHANNEL_LAYERS = {
    "default": {**CHANNEL_LAYERS["default"], "CONFIG": {"hosts": [REDIS_URL], "prefix": "salesrl-test"}}
}
CELERY_BROKER_URL = REDIS_URL
# Unit tests score inline; tests of the asynchronous path start a real worker (and web server)
# with SALESRL_CELERY_EAGER=false and switch it off in the test process too.
CELERY_TASK_ALWAYS_EAGER = envbool("SALESRL_CELERY_EAGER", True)
# Summaries after every turn, so a test reads them at once (the delay is tested on its own).
SALESRL_SUMMARY_DELAY_S = envint("SALESRL_SUMMARY_DELAY_S", 0, minimum=0)
# Serve static files straight from the source folders: tests never run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Threads started by channels and asgiref must not keep test-database connections open.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Two test runs on one machine (a helper and CI, say) each need their own test database.
if env("SALESRL_TEST_DB_NAME", ""):
    DATABASES["default"]["TEST"] = {"NAME": env("SALESRL_TEST_DB_NAME", "")}  # noqa: F405
