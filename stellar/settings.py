"""Stellar settings: one module, every knob from the environment with a local default.

Embedded defaults (no variables set): SQLite, in-memory channel layer, Celery tasks run
in-process, files under ./var. Production: set DATABASE_URL, REDIS_URL, STELLAR_PUBLIC_URL,
SECRET_KEY, STELLAR_ENCRYPTION_KEYS and STELLAR_PRODUCTION=1. See README "Configuration".
"""

from __future__ import annotations

from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from stellar.kernel.urls import host_is_loopback

# Django classes that django-stubs makes generic (admin.ModelAdmin[Call], forms.ModelForm[Agent])
# get a run-time __class_getitem__, so the type parameters can be written where they are used.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

PRODUCTION = env.bool("STELLAR_PRODUCTION", default=False)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
VAR_DIR = Path(env.str("STELLAR_VAR_DIR", default=str(BASE_DIR / "var")))

_DEV_SECRET = "stellar-insecure-local-development-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("SECRET_KEY") if PRODUCTION else env.str("SECRET_KEY", default=_DEV_SECRET)

# The public https origin Twilio calls. Webhook URLs and every signature check use it,
# never the Host header (which is the proxy's view, not what Twilio signed).
STELLAR_PUBLIC_URL = env.str("STELLAR_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")

# Outbound requests made for a workspace (API-call actions, auth-connector token URLs, LLM base
# URLs) may reach only the public internet: loopback, private, link-local and other internal
# addresses are refused (stellar/kernel/egress.py). Extra networks (CIDR) or host names that
# are allowed anyway, comma-separated, e.g. a self-hosted LLM: "10.20.0.0/16,llm.internal".
STELLAR_EGRESS_ALLOW = env.list("STELLAR_EGRESS_ALLOW", default=[])
# Countries (ISO 3166 codes) that handovers, supervisor take-overs and text messages may reach;
# premium-rate, shared-cost, personal and UAN numbers are refused whatever the country.
STELLAR_ALLOWED_DESTINATION_COUNTRIES = env.list(
    "STELLAR_ALLOWED_DESTINATION_COUNTRIES",
    default=["US", "CA", "GB", "IE", "NL", "BE", "LU", "DE", "AT", "CH"]
    + ["FR", "ES", "PT", "IT", "DK", "SE", "NO", "FI", "AU", "NZ"],
)

_public_host = environ.urlparse(STELLAR_PUBLIC_URL).hostname or "127.0.0.1"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[_public_host, "127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[STELLAR_PUBLIC_URL])

# Fernet keys, comma separated: the first encrypts, all decrypt (rotation).
_DEV_FERNET = "c3RlbGxhci1kZXYtb25seS1mZXJuZXQta2V5LTMyYnk="
STELLAR_ENCRYPTION_KEYS = (
    env.list("STELLAR_ENCRYPTION_KEYS")
    if PRODUCTION
    else env.list("STELLAR_ENCRYPTION_KEYS", default=[_DEV_FERNET])
)


# The development keys above are public (they are in this file): anyone could forge sessions
# and password-reset links and decrypt stored secrets with them. Only a server that nobody else
# can reach (a loopback public URL) may use them.
_dev_keys = [
    name
    for name, public in (
        ("SECRET_KEY", SECRET_KEY == _DEV_SECRET),
        ("STELLAR_ENCRYPTION_KEYS", _DEV_FERNET in STELLAR_ENCRYPTION_KEYS),
    )
    if public
]
if _dev_keys and not host_is_loopback(_public_host):
    raise ImproperlyConfigured(
        f"STELLAR_PUBLIC_URL is {STELLAR_PUBLIC_URL}, reachable by others, but "
        f"{' and '.join(_dev_keys)} still hold the public development defaults. Set your own "
        "(a long random SECRET_KEY; STELLAR_ENCRYPTION_KEYS from `python -c 'from "
        "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`), or use a "
        "loopback STELLAR_PUBLIC_URL for local development."
    )

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    "agents",
    "connectors",
    "handovers",
    "calls",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "stellar.urls"
ASGI_APPLICATION = "stellar.asgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'stellar.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default takes concurrent webhooks too: WAL, and writers queue for the lock
    # instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
# A psycopg connection pool per process (PostgreSQL only): under ASGI every HTTP request and
# every consumer database hop runs in a thread of its own, so without a pool each one opens a
# new PostgreSQL connection (TCP + authentication) and persistent connections would leak with
# their threads. DB_POOL_MAX_SIZE=0 (the default) keeps a plain connection per request.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
if DB_POOL_MAX_SIZE > 0:
    if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("DB_POOL_MAX_SIZE needs a PostgreSQL DATABASE_URL.")
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured(
            "DB_POOL_MAX_SIZE and DB_CONN_MAX_AGE exclude each other: set DB_CONN_MAX_AGE=0 "
            "(the pool keeps the connections)."
        )
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),  # seconds to wait for a connection
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Which connections this Daphne process serves (docs/deploy.md, "HTTP and media processes"):
# "all" (the default) serves everything; "http" serves plain HTTP only (webhooks, Twilio
# callbacks, Studio, API), refuses websockets and never loads the speech models, so a webhook
# never waits behind the audio loop of live calls. nginx routes the websockets elsewhere.
STELLAR_PROCESS_ROLE = env.str("STELLAR_PROCESS_ROLE", default="all")
if STELLAR_PROCESS_ROLE not in ("all", "http"):
    raise ImproperlyConfigured(
        f"STELLAR_PROCESS_ROLE={STELLAR_PROCESS_ROLE!r}: use 'all' (default) or 'http'."
    )

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Redis pub/sub: everything on the layer is live and best-effort (listen & intervene,
    # take-over requests with their own timeout and REST fallback), so a message nobody is
    # subscribed to may vanish. One PUBLISH per group_send, and a process receives each
    # message once and fans it out to its local listeners (the list-based layer costs four
    # round trips per group_send and pops one message per round trip).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # Pub/sub keeps nothing in Redis (no capacity or expiry to tune: a message reaches
            # whoever is subscribed now, or nobody). What waits is bounded in the processes:
            # calls.runtime.monitor (per call) and calls.live.outbox (per listener).
            # redis-py 8 reads with a 5 s socket timeout by default: give reads headroom.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Shared cache (login throttling) across processes when Redis is there.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Celery: Redis broker in production; without REDIS_URL tasks run in-process.
# (The in-memory broker gets a host name too: eager tasks still take a pooled connection, and
# kombu warns "No hostname was supplied" for one without.)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task whose worker died unacknowledged is redelivered after this many seconds (Redis).
# Workers look for such abandoned tasks every CELERY_RESTORE_INTERVAL seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=300),
    "unacked_restore_interval": env.int("CELERY_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": 1,
}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-calls": {"task": "calls.tasks.sweep_stale_calls", "schedule": 30.0},
    "purge-expired-recordings": {
        "task": "calls.tasks.purge_expired_recordings",
        "schedule": 3600.0,
    },
}
# Webhooks to a team's systems (calls.postcall.webhooks): a failed `call.ended` is tried
# again after BASE, 2*BASE, 4*BASE... seconds (at most MAX, kept below the visibility timeout
# so a waiting retry is not handed out twice) until WINDOW seconds after the first attempt.
STELLAR_WEBHOOK_RETRY_BASE_SECONDS = env.float("STELLAR_WEBHOOK_RETRY_BASE_SECONDS", default=10.0)
STELLAR_WEBHOOK_RETRY_MAX_SECONDS = env.float("STELLAR_WEBHOOK_RETRY_MAX_SECONDS", default=240.0)
STELLAR_WEBHOOK_RETRY_WINDOW_SECONDS = env.float(
    "STELLAR_WEBHOOK_RETRY_WINDOW_SECONDS", default=6 * 3600.0
)
STELLAR_WEBHOOK_TIMEOUT_SECONDS = env.float("STELLAR_WEBHOOK_TIMEOUT_SECONDS", default=10.0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "studio:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Collected static files (production); in local mode WhiteNoise serves them from the finders.
STATIC_ROOT = env.str(
    "STELLAR_STATIC_ROOT", default=str(VAR_DIR / "staticfiles") if PRODUCTION else ""
)
STATIC_ROOT = STATIC_ROOT or None
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = Path(env.str("STELLAR_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never served publicly; recordings go through an authenticated view
STELLAR_SPOOL_DIR = Path(env.str("STELLAR_SPOOL_DIR", default=str(VAR_DIR / "spool")))
# Many machines, no shared disk: s3://bucket/prefix, where each Daphne host ships its spool
# parts at stream end and any worker finalizes from (calls/recordings/shipping.py). Empty: the
# worker reads STELLAR_SPOOL_DIR (Daphne and workers on one machine). Credentials as boto3
# reads them (AWS_ACCESS_KEY_ID, ...): never in settings, never logged.
STELLAR_SPOOL_STORE = env.str("STELLAR_SPOOL_STORE", default="")
STELLAR_SPOOL_STORE_ENDPOINT_URL = env.str(
    "STELLAR_SPOOL_STORE_ENDPOINT_URL", default=env.str("STELLAR_S3_ENDPOINT_URL", default="")
)
STELLAR_SPOOL_STORE_REGION = env.str(
    "STELLAR_SPOOL_STORE_REGION", default=env.str("STELLAR_S3_REGION", default="")
)
# This machine's name in the spool parts it ships (one spool directory per host).
STELLAR_HOST_ID = env.str("STELLAR_HOST_ID", default="")

_S3_BUCKET = env.str("STELLAR_S3_BUCKET", default="")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": _S3_BUCKET,
                "endpoint_url": env.str("STELLAR_S3_ENDPOINT_URL", default=None),
                "region_name": env.str("STELLAR_S3_REGION", default=None),
                "querystring_auth": True,
                "default_acl": "private",
            },
        }
        if _S3_BUCKET
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes a request without credentials a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "stellar.api_pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "stellar.api_errors.exception_handler",
    "DEFAULT_METADATA_CLASS": "stellar.api_metadata.EndpointMetadata",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stellar API",
    "DESCRIPTION": "Build, connect and review AI voice agents that answer Twilio calls.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf-spectacular-sidecar's static files, never a CDN: works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Bodies are documented as JSON (forms still parse, for the browsable API).
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    # 400/401/403/404 on every operation, declared once (stellar/api_schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "stellar.api_schema.declare_error_responses",
    ],
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")

# Speech providers, chosen by name (see agents/speech/registry.py).
STELLAR_VAD = env.str("STELLAR_VAD", default="webrtc")
STELLAR_STT = env.str("STELLAR_STT", default="whisper")
STELLAR_TTS = env.str("STELLAR_TTS", default="piper")
STELLAR_SPEECH_THREADS = env.int("STELLAR_SPEECH_THREADS", default=2)
STELLAR_MEDIA_TOKEN_TTL = env.int("STELLAR_MEDIA_TOKEN_TTL", default=300)
STELLAR_MAX_FRAME_BYTES = env.int("STELLAR_MAX_FRAME_BYTES", default=16384)
# Bounded work per call (docs/security.md): caller audio may run ahead of the wall clock by a
# burst and a rate tolerance (clock drift), no more; caps on call length, spool size and a line.
STELLAR_INBOUND_AUDIO_RATE = env.float("STELLAR_INBOUND_AUDIO_RATE", default=1.05)
STELLAR_INBOUND_AUDIO_BURST_SECONDS = env.float("STELLAR_INBOUND_AUDIO_BURST_SECONDS", default=2.0)
STELLAR_INBOUND_AUDIO_MAX_DROPPED_SECONDS = env.int(
    "STELLAR_INBOUND_AUDIO_MAX_DROPPED_SECONDS", default=60
)
STELLAR_MAX_CALL_SECONDS = env.int("STELLAR_MAX_CALL_SECONDS", default=4 * 3600)
STELLAR_MAX_SPOOL_BYTES = env.int("STELLAR_MAX_SPOOL_BYTES", default=512 * 1024 * 1024)
STELLAR_MAX_SAY_CHARS = env.int("STELLAR_MAX_SAY_CHARS", default=1500)
# Playground sessions one workspace may have open (or waiting for their socket) at once.
STELLAR_MAX_PLAYGROUND_SESSIONS = env.int("STELLAR_MAX_PLAYGROUND_SESSIONS", default=5)
# Capacity (docs/capacity.md): a live call's lease lapses this long after its process stopped
# refreshing it; a media process is overloaded past these waits (or past its call count, if set).
STELLAR_CALL_LEASE_SECONDS = env.float("STELLAR_CALL_LEASE_SECONDS", default=30.0)
STELLAR_OVERLOAD_SPEECH_WAIT_MS = env.float("STELLAR_OVERLOAD_SPEECH_WAIT_MS", default=700.0)
STELLAR_OVERLOAD_TURN_MS = env.float("STELLAR_OVERLOAD_TURN_MS", default=2000.0)
# Past its 200 ms of audio sent ahead, a late event loop is heard as gaps (twice that, held).
STELLAR_OVERLOAD_LOOP_LAG_MS = env.float("STELLAR_OVERLOAD_LOOP_LAG_MS", default=400.0)
STELLAR_MAX_CALLS_PER_PROCESS = env.int("STELLAR_MAX_CALLS_PER_PROCESS", default=0)  # 0: no cap
STELLAR_HOLD_LINE_AFTER_MS = env.int("STELLAR_HOLD_LINE_AFTER_MS", default=1500)

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# "json": one JSON object per line with the call's SID (stellar/kernel/logging_json.py); else plain.
LOG_FORMAT = env.str("STELLAR_LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "stellar.kernel.logging_json.TextFormatter",  # values kept on one line
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "stellar.kernel.logging_json.JsonFormatter"},
    },
    "filters": {"call_sid": {"()": "stellar.kernel.logging_json.CallSidFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["call_sid"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "twilio.http_client": {"level": "WARNING"},  # request dumps are noise at INFO
    },
}
# Celery workers keep the handler above (JSON lines) instead of installing their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

# Twilio REST API origin; only changed to point the real client at a local mock in tests.
STELLAR_TWILIO_API_BASE_URL = env.str("STELLAR_TWILIO_API_BASE_URL", default="")
STELLAR_TWILIO_TIMEOUT = env.float("STELLAR_TWILIO_TIMEOUT", default=10.0)
