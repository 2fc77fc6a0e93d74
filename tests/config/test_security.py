"""Production security settings: HTTPS and cookies from the environment, the Content-Security-Policy."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from tests.factories import StaffFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "x7" * 30 + "-production-like-secret", "ALLOWED_HOSTS": "ledger.example.com"}


def run_with(environment: dict, *args: str) -> subprocess.CompletedProcess:
    """`python *args` under config.settings with only `environment` (plus the database and broker CI uses)."""
    passed = {name: os.environ[name] for name in ("PATH", "DATABASE_URL", "REDIS_URL", "ENV_FILE") if name in os.environ}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT, env={**passed, "DJANGO_SETTINGS_MODULE": "config.settings", **environment},
        capture_output=True, text=True, timeout=120,
    )


def settings_under(environment: dict, *names: str) -> dict:
    """The settings as config.settings computes them from `environment`; no app is loaded (a fifth of `shell`'s time)."""
    code = "from django.conf import settings; print(repr({n: getattr(settings, n, None) for n in %r}))" % (names,)
    result = run_with(environment, "-c", code)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout.strip().splitlines()[-1])


def test_check_deploy_passes_at_warning_level_under_a_production_environment():
    result = run_with(PRODUCTION, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_defaults_are_https_only_and_debug_is_plain_http():
    names = ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
    assert settings_under(PRODUCTION, *names) == dict(zip(names, (True, 31_536_000, True, True)))
    assert settings_under({"DEBUG": "true"}, *names) == dict(zip(names, (False, 0, False, False)))


def test_each_https_setting_is_read_from_the_environment():
    environment = {**PRODUCTION, "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "3600",
                   "SESSION_COOKIE_SECURE": "no", "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}
    values = settings_under(environment, "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE",
                            "SECURE_PROXY_SSL_HEADER")
    assert values == {"SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 3600, "SESSION_COOKIE_SECURE": False,
                      "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}
    assert settings_under(PRODUCTION, "SECURE_PROXY_SSL_HEADER")["SECURE_PROXY_SSL_HEADER"] is None


@pytest.mark.parametrize("name, value", [("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
                                         ("SECURE_HSTS_SECONDS", "a year"), ("AXES_FAILURE_LIMIT", "0")])
def test_a_bad_security_setting_names_its_variable(name, value):
    result = run_with({**PRODUCTION, name: value}, "manage.py", "check")
    assert result.returncode != 0 and name in result.stderr


@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_is_redirected_to_https_except_the_health_check(client, db):
    redirect = client.get("/admin/login/")
    assert redirect.status_code == 301 and redirect["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/login/", secure=True).status_code == 200


@override_settings(SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_behind_a_proxy_its_https_header_counts_as_https(client, db):
    assert client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"}).status_code == 200


def sources(policy: str, directive: str) -> list[str]:
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return directives.get(directive, directives["default-src"]).split()


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/", "/admin/credits/creditaccount/", "/api/docs/"])
def test_pages_carry_a_csp_without_inline_scripts(client, db, path):
    if path != "/admin/login/":
        client.force_login(StaffFactory())
    response = client.get(path)
    assert response.status_code == 200
    scripts = sources(response["Content-Security-Policy"], "script-src")
    assert "'self'" in scripts and "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    # Inline styles only on Swagger UI's page, for drf-spectacular's <style> block.
    assert ("'unsafe-inline'" in sources(response["Content-Security-Policy"], "style-src")) is (path == "/api/docs/")
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", response.content.decode())
    assert inline == [], inline


def test_swagger_ui_setup_script_is_served_as_javascript(client, db):
    page = client.get("/api/docs/").content.decode()
    (setup_url,) = re.findall(r'<script src="(/api/docs/\?[^"]*)"', page)
    script = client.get(setup_url.replace("&amp;", "&"))
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
