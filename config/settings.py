"""Ledgerline settings: one file, every value from the environment.

Defaults give the embedded mode (SQLite, eager Celery, local-memory cache) so that
`make run` works on a machine with nothing but Python. `DATABASE_URL` and `REDIS_URL`
switch to PostgreSQL and a Redis broker and cache.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "ledgerline-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "credits",
    "usage",
    "analytics",
]

MIDDLEWARE = [
    "analytics.request_log.RequestLogMiddleware",  # first: it times everything below it
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            # Waits for the writer lock instead of failing at once under runserver's threads.
            "OPTIONS": {"timeout": 20},
        }
    }

# Memory per sort or hash of a PostgreSQL query: analytics over every outlet group hundreds of thousands of
# rollup rows, which the default 4 MB sorts on disk by collated text keys (twice as slow, measured).
DATABASE_WORK_MEM_MB = env_int("DATABASE_WORK_MEM_MB", 32)
if DATABASE_WORK_MEM_MB < 1:
    raise ImproperlyConfigured("DATABASE_WORK_MEM_MB must be at least 1")
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = f"-c work_mem={DATABASE_WORK_MEM_MB}MB"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ledgerline",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: a Redis broker when REDIS_URL is set, otherwise tasks run eagerly in-process.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Rollups: with a broker, an ingest schedules a build after its commit, at most once per interval
# (seconds); the beat runs one every minute regardless. Analytics answers are cached per outlet
# for ANALYTICS_CACHE_SECONDS and dropped as soon as new usage for the outlet is stored.
ROLLUP_ON_INGEST = env_bool("ROLLUP_ON_INGEST", True)
ROLLUP_SCHEDULE_INTERVAL = env_int("ROLLUP_SCHEDULE_INTERVAL", 10)
ANALYTICS_CACHE_SECONDS = env_int("ANALYTICS_CACHE_SECONDS", 60)

# Email (low-balance alerts to outlets' billing contacts): the console in DEBUG, SMTP otherwise; tests use
# locmem. Alert webhooks: attempt n that fails is retried after WEBHOOK_RETRY_BASE_SECONDS * 2**(n-1)
# seconds, up to WEBHOOK_MAX_ATTEMPTS attempts in all; emails retry on the same schedule.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Ledgerline <ledgerline@localhost>")
ALERT_EMAIL_MAX_ATTEMPTS = env_int("ALERT_EMAIL_MAX_ATTEMPTS", 5)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 60)
for _name in ("EMAIL_TIMEOUT", "ALERT_EMAIL_MAX_ATTEMPTS", "WEBHOOK_TIMEOUT_SECONDS", "WEBHOOK_MAX_ATTEMPTS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1")
if WEBHOOK_RETRY_BASE_SECONDS < 0:
    raise ImproperlyConfigured("WEBHOOK_RETRY_BASE_SECONDS must be 0 or more")

# API request log (analytics.request_log): each process buffers its rows and a thread writes them every
# REQUEST_LOG_FLUSH_SECONDS, or as soon as REQUEST_LOG_FLUSH_ROWS wait; past REQUEST_LOG_MAX_BUFFERED
# waiting rows (the database unreachable) new rows are dropped. 0 seconds: no thread, rows wait for
# request_log.flush() (the tests' setting). The daily purge deletes rows older than REQUEST_LOG_RETENTION_DAYS.
REQUEST_LOG_ENABLED = env_bool("REQUEST_LOG_ENABLED", True)
REQUEST_LOG_FLUSH_SECONDS = env_int("REQUEST_LOG_FLUSH_SECONDS", 2)
REQUEST_LOG_FLUSH_ROWS = env_int("REQUEST_LOG_FLUSH_ROWS", 500)
REQUEST_LOG_MAX_BUFFERED = env_int("REQUEST_LOG_MAX_BUFFERED", 20_000)
REQUEST_LOG_RETENTION_DAYS = env_int("REQUEST_LOG_RETENTION_DAYS", 30)
for _name, _least in (("REQUEST_LOG_FLUSH_SECONDS", 0), ("REQUEST_LOG_FLUSH_ROWS", 1),
                      ("REQUEST_LOG_MAX_BUFFERED", 1), ("REQUEST_LOG_RETENTION_DAYS", 1)):
    if globals()[_name] < _least:
        raise ImproperlyConfigured(f"{_name} must be at least {_least}")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.api.auth.BearerAuthentication",
        "config.api.auth.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["config.api.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["config.api.envelope.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.ApiAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"caller": os.environ.get("API_THROTTLE_RATE", "6000/minute")},
    "EXCEPTION_HANDLER": "config.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `format` is ours: `?format=csv` selects the CSV export of a list, not a renderer.
    "URL_FORMAT_OVERRIDE": None,
    "COERCE_DECIMAL_TO_STRING": True,
}

API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 16 * 1024 * 1024)
API_JWT_LIFETIME = timedelta(seconds=env_int("API_JWT_LIFETIME_SECONDS", 900))
API_JWT_SIGNING_KEY = os.environ.get("API_JWT_SIGNING_KEY", SECRET_KEY)
if len(API_JWT_SIGNING_KEY.encode()) < 32:
    raise ImproperlyConfigured("API_JWT_SIGNING_KEY (default: SECRET_KEY) must be at least 32 bytes for HS256")
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": API_JWT_SIGNING_KEY,
    "AUDIENCE": "ledgerline-api",
    "ISSUER": "ledgerline",
    "ACCESS_TOKEN_LIFETIME": API_JWT_LIFETIME,
    "LEEWAY": 0,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_CLAIM": "sub",
    "USER_ID_FIELD": "id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Ledgerline API",
    "DESCRIPTION": "Credits, usage records and analytics for AI-agent platforms.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
}
