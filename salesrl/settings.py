"""SalesRL settings: one module, driven by the environment.

Every variable is listed with its default in `.env.example`. Malformed values fail at start-up
with ImproperlyConfigured instead of surfacing later as odd behaviour.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from django.core.exceptions import ImproperlyConfigured

from .ratelimit import Rate
from .stack import StackError, embedded_pg_port

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {raw!r}")


def envint(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(f"{name} must be within [{minimum}, {maximum}], got {value}")
    return value


def envsecret(name: str, default: str = "") -> str:
    """Read NAME, or the contents of the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def envurl(name: str, default: str, schemes: set[str]) -> str:
    value = env(name, default)
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.hostname or parts.path):
        raise ImproperlyConfigured(
            f"{name} must be a URL with scheme {' or '.join(sorted(schemes))}, got {value!r}"
        )
    return value


DEBUG = envbool("SALESRL_DEBUG", False)
STATE_DIR = Path(env("SALESRL_STATE_DIR", str(BASE_DIR / ".state")))

SECRET_KEY = envsecret("SALESRL_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and envbool("SALESRL_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SALESRL_SECRET_KEY is required")
    # A per-installation key kept in the state folder: sessions survive restarts without the
    # key ever being committed. Production deployments set SALESRL_SECRET_KEY instead.
    key_file = STATE_DIR / "secret_key"
    if not key_file.exists():
        import secrets

        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = [
    h.strip() for h in env("SALESRL_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("SALESRL_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
for origin in CSRF_TRUSTED_ORIGINS:
    if not re.match(r"^https?://", origin):
        raise ImproperlyConfigured(f"SALESRL_CSRF_TRUSTED_ORIGINS entries need a scheme: {origin!r}")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "conversations",
    "scoring",
    "coaching",
    "experiments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "salesrl.headers.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Database (and Redis) outages raised by a view become a 503 with Retry-After, not a 500. Innermost
    # and sync-only on purpose: Django then runs the whole chain in the request's one worker thread
    # (the views are synchronous), instead of running Django's own middleware in async mode, where each
    # of their hooks hops to that thread and back (about 10 hops per request; see salesrl/middleware.py).
    "salesrl.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "salesrl.urls"
WSGI_APPLICATION = "salesrl.wsgi.application"
ASGI_APPLICATION = "salesrl.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "coaching.context_processors.team_views",
                "experiments.context_processors.experiments_nav",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Without DATABASE_URL the project's embedded PostgreSQL (with pgvector) is used; `./salesrl.sh`
# starts it on SALESRL_PG_PORT with its data under the state folder.
try:
    PG_PORT = embedded_pg_port(STATE_DIR)
except StackError as exc:
    raise ImproperlyConfigured(str(exc)) from None
DATABASE_URL = envurl(
    "DATABASE_URL",
    f"postgres://postgres@127.0.0.1:{PG_PORT}/salesrl",
    {"postgres", "postgresql", "pgsql"},
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
# ASGI runs each request on a thread of its own, so web processes must not keep a connection per thread
# (one daphne held 99 connections under load and PostgreSQL refused the rest): salesrl/asgi.py sets
# SALESRL_DB_POOL_SIZE, and the process shares a psycopg pool of that many connections instead.
DB_POOL_SIZE = envint("SALESRL_DB_POOL_SIZE", 0, minimum=0, maximum=200)
if DB_POOL_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_SIZE,
        "timeout": 10,  # then OperationalError: a 503 with Retry-After (salesrl.middleware)
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, channel layer, cache ---------------------------------------------
REDIS_URL = envurl("REDIS_URL", "redis://127.0.0.1:6379/0", {"redis", "rediss", "unix"})

CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "salesrl"},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# A worker killed mid-task must hand the message back rather than lose the turn's score.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup otherwise closes every database connection before and after each task: the
# reconnects cost the worker 8-10 % of its time and PostgreSQL half of its CPU per turn. salesrl/celery.py
# recycles broken or expired connections around tasks instead.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_TASK_ALWAYS_EAGER = envbool("SALESRL_CELERY_EAGER", False)
# Scores before everything else: with Redis, kombu keeps one list per priority step and workers read
# priority 0 first. scoring.score_turn(s) is sent at 0, every other task at 6, so under load guidance
# and summaries wait for the workers, not the probabilities behind them. (Routes, not
# task_default_priority: a default is set on the task before routing and wins over the route.)
CELERY_TASK_ROUTES = {
    "scoring.score_turn": {"priority": 0},
    "scoring.score_turns": {"priority": 0},
    "*": {"priority": 6},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # With Redis, the unacknowledged message of a worker whose main process died comes back only after
    # this many seconds (kombu's default is an hour). It must stay above the longest task's run time
    # (a summary batch of 100 conversations; a score waiting out a failing remote embedder, ~16 s with
    # the defaults below), or a message still being worked on is delivered a second time; 10 minutes
    # brings confidence, guidance and summary work of a killed worker back in minutes. Scoring does not
    # wait for it: see the sweep.
    "visibility_timeout": 600,
    # Without these, a publish to a Redis that vanished without closing the connection (failover, a
    # dropped NAT entry) blocks the web request forever; with them it fails, and the sweep catches up.
    "socket_connect_timeout": 5,
    "socket_timeout": 10,
}
# The sweep (scoring.sweep_unscored, run by beat every SALESRL_SWEEP_EVERY_S seconds) re-enqueues turns
# of open conversations still unscored SALESRL_SWEEP_AFTER_S seconds after they were stored: their message
# was lost to a killed worker, a Redis restart or an enqueue that failed while Redis was down. Longer than
# a normal queue wait, so work that is merely queued is not enqueued twice; at most SALESRL_SWEEP_BATCH
# turns per run, oldest first.
SALESRL_SWEEP_AFTER_S = envint("SALESRL_SWEEP_AFTER_S", 30, minimum=1)
SALESRL_SWEEP_EVERY_S = envint("SALESRL_SWEEP_EVERY_S", 15, minimum=1)
SALESRL_SWEEP_BATCH = envint("SALESRL_SWEEP_BATCH", 500, minimum=1)
# Turns per scoring task when the batch API stores many at once: larger shares more work per task
# (one embedding lookup, one lock statement, one write), smaller lets more worker processes share it.
SALESRL_SCORE_BATCH = envint("SALESRL_SCORE_BATCH", 50, minimum=1, maximum=1_000)
# A live conversation's summary (team views, library) is refreshed at most once per this many seconds
# (coaching.receivers.request_live_summary); 0 refreshes it after every turn.
SALESRL_SUMMARY_DELAY_S = envint("SALESRL_SUMMARY_DELAY_S", 5, minimum=0, maximum=3600)
CELERY_BEAT_SCHEDULE = {
    "sweep-unscored-turns": {
        "task": "scoring.sweep_unscored",
        "schedule": float(SALESRL_SWEEP_EVERY_S),
        # Sweeps queue behind other tasks (expiring them after one interval dropped every sweep while
        # the queue was busy); a late one is cheap. Five minutes only bounds a pile-up without workers.
        "options": {"expires": 300.0},
    }
}

# --- Auth and API ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "conversations.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "salesrl.api_errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["salesrl.api_parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # ?format= names an export format (coaching exports), not a DRF renderer: everything here is JSON.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SalesRL API",
    "DESCRIPTION": "Ingest sales conversations turn by turn and read their live conversion scores.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Longest turn text the API accepts, in characters. A transcript segment longer than this is
# almost certainly a whole call pasted by mistake; it is refused with a 400, not truncated.
SALESRL_MAX_TURN_CHARS = envint("SALESRL_MAX_TURN_CHARS", 10_000, minimum=100, maximum=1_000_000)
# Turns per request of the batch API (POST /api/v1/turns/); the body limit below bounds it as well.
SALESRL_MAX_BATCH_TURNS = envint("SALESRL_MAX_BATCH_TURNS", 500, minimum=1, maximum=10_000)
# Replace email addresses, phone numbers and payment card numbers in turn text with [email], [phone]
# and [card] before the turn is stored (and so before it is scored, searched or exported). Off by
# default: redaction cannot be undone, and a team that needs the details keeps them.
SALESRL_REDACT_PII = envbool("SALESRL_REDACT_PII", False)
# Rate limits ('600/minute', '20/s', '10/15min' or 'off'), counted in Redis; they fail open when Redis
# is down. Ingest (creating conversations, appending turns, closing, importing) is per API token or
# user, and counts every turn of a batch: 3,000 a minute is a 50-rep team posting a turn every second
# each. Sign-in failures are per
# username and address, and per address; over the limit the sign-in page refuses with 429.
SALESRL_RATE_LIMIT_INGEST = env("SALESRL_RATE_LIMIT_INGEST", "3000/minute")
SALESRL_RATE_LIMIT_LOGIN = env("SALESRL_RATE_LIMIT_LOGIN", "10/15min")
SALESRL_RATE_LIMIT_LOGIN_PER_IP = env("SALESRL_RATE_LIMIT_LOGIN_PER_IP", "100/15min")
for _name in ("SALESRL_RATE_LIMIT_INGEST", "SALESRL_RATE_LIMIT_LOGIN", "SALESRL_RATE_LIMIT_LOGIN_PER_IP"):
    Rate.parse(globals()[_name], setting=_name)  # a malformed rate fails at start-up
# Largest JSONL import accepted in one request.
SALESRL_MAX_IMPORT_BYTES = envint("SALESRL_MAX_IMPORT_BYTES", 50_000_000, minimum=1_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = SALESRL_MAX_IMPORT_BYTES

# --- i18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("SALESRL_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = STATE_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Security headers (salesrl.headers adds Content-Security-Policy and Permissions-Policy).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = envbool("SALESRL_SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
# HSTS only makes sense once the site is served over HTTPS; browsers remember it, so it is opt-in.
SECURE_HSTS_SECONDS = envint("SALESRL_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (see docs/deploy.md).
if envbool("SALESRL_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # scipy's shgo optimiser (behind the Boschloo exact test) logs every iteration to the root logger.
    "filters": {"no_scipy_shgo": {"()": "salesrl.logs.DropModules", "modules": ["scipy/optimize/_shgo"]}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["no_scipy_shgo"]}
    },
    "root": {"handlers": ["console"], "level": env("SALESRL_LOG_LEVEL", "INFO")},
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "salesrl.staticfiles.PlotlyFinder",
]

# --- Scoring ----------------------------------------------------------------------------------
# Trained model versions (policy.onnx + model.json) and the exported local embedding model.
SALESRL_MODELS_DIR = Path(env("SALESRL_MODELS_DIR", str(STATE_DIR / "models")))
# Which embedding backend scores turns: local (all-MiniLM-L6-v2, ONNX int8, offline), openai, azure.
SALESRL_EMBEDDER = env("SALESRL_EMBEDDER", "local")
if SALESRL_EMBEDDER not in {"local", "openai", "azure"}:
    raise ImproperlyConfigured(f"SALESRL_EMBEDDER must be local, openai or azure, got {SALESRL_EMBEDDER!r}")
# The neighbour search behind each live confidence: HNSW candidate list size (higher: better recall,
# slower). benchmarks/neighbour_search.py measures the trade-off.
SALESRL_HNSW_EF_SEARCH = envint("SALESRL_HNSW_EF_SEARCH", 100, minimum=10, maximum=1000)
# The live neighbour search is exact for buckets of at most this many training states (a few ms; a
# filtered HNSW scan is slower there and misses neighbours), HNSW above (scoring.models.nearest_many).
SALESRL_NEIGHBOUR_EXACT_MAX = envint("SALESRL_NEIGHBOUR_EXACT_MAX", 50_000, minimum=0)
# The openai/azure backends: seconds per request attempt, and retries after the first (exponential
# back-off from 0.5 s, by the openai client). When they are used up the turn is scored by a stand-in (the
# newest model trained on the local embedder, else the baseline), marked in the score's details, and the
# backend is not asked again for SALESRL_EMBEDDING_COOLDOWN_S seconds (each turn would otherwise wait out
# every retry while it is down).
SALESRL_EMBEDDING_TIMEOUT_S = envint("SALESRL_EMBEDDING_TIMEOUT_S", 5, minimum=1, maximum=600)
SALESRL_EMBEDDING_MAX_RETRIES = envint("SALESRL_EMBEDDING_MAX_RETRIES", 2, minimum=0, maximum=10)
SALESRL_EMBEDDING_COOLDOWN_S = envint("SALESRL_EMBEDDING_COOLDOWN_S", 30, minimum=0)

# experiments imports nothing from the other apps; who manages which team comes from this function
# (user -> (is admin, {team id: team name} of the teams they manage)).
SALESRL_TEAM_ACCESS = "conversations.models.team_access"
