"""Ledgerline settings: one file, every value from the environment (and the git-ignored `.env` `make run` writes).

Defaults give the embedded mode (SQLite, eager Celery, local-memory cache) so that
`make run` works on a machine with nothing but Python. `DATABASE_URL` and `REDIS_URL`
switch to PostgreSQL and a Redis broker and cache.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent


def read_env_file(path: str) -> None:
    """Variables from a dotenv file, for those the real environment does not set (it always wins)."""
    if path:
        load_dotenv(path, override=False)


# ENV_FILE empty: no file at all (the tests' settings, so a developer's .env never reaches them).
read_env_file(os.environ.get("ENV_FILE", str(BASE_DIR / ".env")))


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
# Where people reach this server, as commands print it (`make run` passes its HOST and PORT).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "config.apps.LedgerlineAdminConfig",  # django.contrib.admin with our site
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
    "axes",
    "credits",
    "usage",
    "analytics",
]

MIDDLEWARE = [
    "analytics.requestlog.middleware.RequestLogMiddleware",  # first: it times everything below it
    "config.api.middleware.RequestIdMiddleware",  # second: every answer below it carries the Request-Id
    "config.api.middleware.RefuseNulInUrlMiddleware",
    "config.api.middleware.ApiStatementTimeoutMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # the admin's and the dashboard's static files under gunicorn
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: it turns a lockout into the login page's answer
]

# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

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
            # config is no app: its libraries are named here
            "libraries": {"amounts": "config.templatetags.amounts", "times": "config.templatetags.times"},
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    try:
        # Health checks: a pooled connection that a PostgreSQL restart killed is replaced before a request uses it.
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "config.postgresql"  # the same, with a health check without a round trip
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
        }
    }

# Memory per sort or hash of a PostgreSQL query: analytics over every outlet group hundreds of thousands of
# rollup rows, which the default 4 MB sorts on disk by collated text keys (twice as slow, measured).
DATABASE_WORK_MEM_MB = env_int("DATABASE_WORK_MEM_MB", 32)
if DATABASE_WORK_MEM_MB < 1:
    raise ImproperlyConfigured("DATABASE_WORK_MEM_MB must be at least 1")
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = f"-c work_mem={DATABASE_WORK_MEM_MB}MB"

SILENCED_SYSTEM_CHECKS = []
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Waits for the writer lock instead of failing at once under runserver's threads.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)
    # A covering index's INCLUDE columns only speed PostgreSQL up; SQLite builds the same index on its keys alone.
    SILENCED_SYSTEM_CHECKS.append("models.W040")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
# Seconds a Redis command (cache or broker publish) may take before Redis counts as unavailable: the cache
# then answers a miss and a request publishing a task goes on without it (config/cache.py).
REDIS_TIMEOUT_MS = env_int("REDIS_TIMEOUT_MS", 500)
if REDIS_TIMEOUT_MS < 1:
    raise ImproperlyConfigured("REDIS_TIMEOUT_MS must be at least 1")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.DegradingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ledgerline",
            "OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT_MS / 1000,
                "socket_timeout": REDIS_TIMEOUT_MS / 1000,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: a Redis broker when REDIS_URL is set, otherwise tasks run eagerly in-process.
CELERY_BROKER_URL = REDIS_URL or "memory://"
# kombu's Redis transport, made to ride out a broker outage with a task in flight (config/broker.py).
CELERY_BROKER_TRANSPORT = "config.broker:Transport" if REDIS_URL else None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker outage: the worker reconnects for as long as it lasts (Celery's default gives up after 100 tries,
# about an hour), and a publish gives up after REDIS_TIMEOUT_MS per socket operation instead of hanging.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT_MS / 1000
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": REDIS_TIMEOUT_MS / 1000,
    "socket_timeout": REDIS_TIMEOUT_MS / 1000,
}

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

# API request log (analytics.requestlog): each process buffers its rows and a thread writes them every
# REQUEST_LOG_FLUSH_SECONDS, or as soon as REQUEST_LOG_FLUSH_ROWS wait; past REQUEST_LOG_MAX_BUFFERED
# waiting rows (the database unreachable) new rows are dropped. 0 seconds: no thread, rows wait for
# analytics.requestlog.writer.flush() (the tests' setting). The daily purge deletes rows older than
# REQUEST_LOG_RETENTION_DAYS.
REQUEST_LOG_ENABLED = env_bool("REQUEST_LOG_ENABLED", True)
REQUEST_LOG_FLUSH_SECONDS = env_int("REQUEST_LOG_FLUSH_SECONDS", 2)
REQUEST_LOG_FLUSH_ROWS = env_int("REQUEST_LOG_FLUSH_ROWS", 500)
REQUEST_LOG_MAX_BUFFERED = env_int("REQUEST_LOG_MAX_BUFFERED", 20_000)
REQUEST_LOG_RETENTION_DAYS = env_int("REQUEST_LOG_RETENTION_DAYS", 30)
for _name, _least in (("REQUEST_LOG_FLUSH_SECONDS", 0), ("REQUEST_LOG_FLUSH_ROWS", 1),
                      ("REQUEST_LOG_MAX_BUFFERED", 1), ("REQUEST_LOG_RETENTION_DAYS", 1)):
    if globals()[_name] < _least:
        raise ImproperlyConfigured(f"{_name} must be at least {_least}")

# --- Security ------------------------------------------------------------------------------------
# HTTPS: production defaults when DEBUG is off, plain http when it is on (`make run`). /healthz answers over
# plain http too, for load balancers and orchestrators that probe without TLS.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    # Asking browsers to preload the domain is the operator's deliberate choice, not a default to be warned about.
    SILENCED_SYSTEM_CHECKS.append("security.W021")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# Behind a proxy that ends TLS: the header it sets to "https" (e.g. X-Forwarded-Proto). Off unless named, as a
# client that reaches the server directly could send the header itself.
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "")
if _proxy_ssl_header:
    if not _proxy_ssl_header.replace("-", "").isalnum():
        raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER must be a header name, got {_proxy_ssl_header!r}")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")

# Content-Security-Policy on every page: scripts and styles from this server only (no inline script
# anywhere: Swagger UI's setup script is served from a URL of its own), images also as data: URIs (the
# admin's and Swagger UI's icons), no plugins, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Admin login: AXES_FAILURE_LIMIT failures for one username from one address lock that pair out for
# AXES_COOLOFF_MINUTES (0: until `manage.py axes_reset_username`); a successful login clears the count.
# API keys and tokens never pass through Django's authenticate(): axes does not see them.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 30)
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("AXES_FAILURE_LIMIT must be at least 1")
if AXES_COOLOFF_MINUTES < 0:
    raise ImproperlyConfigured("AXES_COOLOFF_MINUTES must be 0 or more")
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES) if AXES_COOLOFF_MINUTES else None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.lockout.admin_login_locked"
AXES_CLIENT_IP_CALLABLE = "config.lockout.client_address"
# Proxies in front of the server that append the client's address to X-Forwarded-For (0: none, the address is
# the connection's): the lockout counts per client, not per proxy.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more")
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_VERBOSE = False  # no banner before every command's output; lockouts are still logged as warnings

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# Sortable 24-hour dates in the admin instead of "Dec. 2, 2026, 6:50 p.m." (config/formats/en/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# What no app owns: the admin's site-wide list stylesheet.
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "credits.auth.BearerAuthentication",
        "config.api.auth.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["config.api.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["config.api.envelope.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.ApiJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.ApiAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"caller": os.environ.get("API_THROTTLE_RATE", "6000/minute")},
    "EXCEPTION_HANDLER": "config.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `format` is ours: `?format=csv` selects the CSV export of a list, not a renderer.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.api.negotiation.FormatParameterNegotiation",
    "COERCE_DECIMAL_TO_STRING": True,
}

# The production server (`make serve`, config/gunicorn.py): worker processes and threads in each; the seconds
# after which a worker that stopped answering is replaced; keep-alive; and requests after which a worker is
# recycled (bounding what a long-lived process can grow to).
SERVER_WORKERS = env_int("SERVER_WORKERS", 2 * (os.cpu_count() or 1) + 1)
SERVER_THREADS = env_int("SERVER_THREADS", 1)
SERVER_TIMEOUT_SECONDS = env_int("SERVER_TIMEOUT_SECONDS", 30)
# Off by default: a kept-alive client stays with the worker that accepted it, so a few busy clients crowd one
# worker while another idles (HTTP ingest with 4 clients: 8,500-9,300 records/s kept alive, 14,000-15,600 not).
# Behind the buffering proxy production needs, each request comes on a connection of its own anyway.
SERVER_KEEPALIVE_SECONDS = env_int("SERVER_KEEPALIVE_SECONDS", 0)
SERVER_MAX_REQUESTS = env_int("SERVER_MAX_REQUESTS", 10_000)
for _name, _least in (("SERVER_WORKERS", 1), ("SERVER_THREADS", 1), ("SERVER_TIMEOUT_SECONDS", 1),
                      ("SERVER_KEEPALIVE_SECONDS", 0), ("SERVER_MAX_REQUESTS", 1)):
    if globals()[_name] < _least:
        raise ImproperlyConfigured(f"{_name} must be at least {_least}")

# The largest request body, API and admin alike: a full batch of 1000 records with their meta fits (a 413 above).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 16 * 1024 * 1024)
# PostgreSQL's statement_timeout for API requests only (0: none): a statement running longer is cancelled and
# the request answered 503 with Retry-After. Celery, commands and
# migrations keep the database's own setting.
API_STATEMENT_TIMEOUT_MS = env_int("API_STATEMENT_TIMEOUT_MS", 20_000)
if API_STATEMENT_TIMEOUT_MS < 0:
    raise ImproperlyConfigured("API_STATEMENT_TIMEOUT_MS must be 0 (none) or more")
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
    # A grant's source as read, and the sources a person may give a new one.
    "ENUM_NAME_OVERRIDES": {
        "GrantSourceEnum": "credits.models.CreditGrant.Source",
        "ManualSourceEnum": "credits.grants.MANUAL_SOURCES",
        "TopUpSourceEnum": "credits.controls.TopUpSource",
    },
}
