"""The project's settings for tests: config/settings.py with a secret key default and fast password hashing."""

import os

os.environ.setdefault("SECRET_KEY", "ledgerline-tests-only-secret-key-of-sufficient-length")
# Never a developer's .env (the one `make run` writes): tests and the commands they start see only their own settings.
os.environ["ENV_FILE"] = ""

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# No writer thread: its own connection would race each test's transaction; tests call
# analytics.requestlog.writer.flush().
REQUEST_LOG_FLUSH_SECONDS = 0
# The test client and pytest-django's live_server speak plain http.
SECURE_SSL_REDIRECT = False
