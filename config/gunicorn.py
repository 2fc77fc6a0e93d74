"""gunicorn's configuration for `make serve`: its numbers are Django settings, so one environment sets both."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

wsgi_app = "config.wsgi:application"
# Threaded workers: the worker's main thread keeps telling the master it is alive while a request streams, so
# a long CSV export is not killed at `timeout` as a sync worker's would be; a request's own work is bounded by the
# API's range caps and API_STATEMENT_TIMEOUT_MS, and `timeout` replaces only a worker that stopped answering at all.
worker_class = "gthread"
workers = settings.SERVER_WORKERS
threads = settings.SERVER_THREADS
timeout = settings.SERVER_TIMEOUT_SECONDS
graceful_timeout = settings.SERVER_TIMEOUT_SECONDS
keepalive = settings.SERVER_KEEPALIVE_SECONDS
max_requests = settings.SERVER_MAX_REQUESTS
max_requests_jitter = max(1, settings.SERVER_MAX_REQUESTS // 10)  # workers recycled at different moments
accesslog = "-"
# The path without its query string, and no header but the user agent: no key, token or cursor is ever logged.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
