import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory

from config.settings import env_bool, env_int, env_list, read_env_file
from tests.factories import create_api_key
from tests.outages import end_backend


def test_models_and_migrations_agree(db):
    call_command("makemigrations", "--check", "--dry-run", stdout=io.StringIO())


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("0", False), ("", True), ("Yes", True)])
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", True) is expected


def test_bad_env_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG", False)
    monkeypatch.setenv("COUNT", "many")
    with pytest.raises(ImproperlyConfigured, match="COUNT"):
        env_int("COUNT", 1)


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


@pytest.mark.postgres
def test_postgresql_connections_get_the_configured_work_mem(db, settings):
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        assert cursor.fetchone()[0] == f"{settings.DATABASE_WORK_MEM_MB}MB"


def wsgi_get(path: str, **headers) -> tuple[str, bytes]:
    """A request through Django's real WSGI handler, whose request_started checks pooled connections (the test
    client skips that check); the status line and body."""
    environ = RequestFactory().get(path, **headers).environ
    answered = {}
    body = b"".join(WSGIHandler()(environ, lambda status, headers: answered.setdefault("status", status)))
    return answered["status"], body


@pytest.mark.postgres
def test_the_first_request_after_a_postgresql_restart_succeeds_on_a_new_connection(transactional_db, outlet):
    _, raw_key = create_api_key(outlet=outlet, scopes=["read"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}
    assert wsgi_get("/api/v1/outlets/", **auth)[0] == "200 OK"
    assert connection.settings_dict["CONN_MAX_AGE"] > 0 and connection.connection is not None  # pooled, kept
    pid = connection.connection.info.backend_pid

    end_backend(pid)

    status, body = wsgi_get("/api/v1/outlets/", **auth)
    assert status == "200 OK", body
    assert connection.connection.info.backend_pid != pid


ROOT = Path(__file__).resolve().parents[2]


def test_an_env_file_fills_only_what_the_real_environment_leaves_unset(tmp_path, monkeypatch):
    for name in ("LEDGERLINE_FROM_FILE", "LEDGERLINE_EXPORTED"):
        monkeypatch.setenv(name, "placeholder")
    monkeypatch.delenv("LEDGERLINE_FROM_FILE")
    monkeypatch.setenv("LEDGERLINE_EXPORTED", "exported")
    env_file = tmp_path / ".env"
    env_file.write_text("LEDGERLINE_FROM_FILE=file\nLEDGERLINE_EXPORTED=file\n")

    read_env_file(str(env_file))

    assert os.environ["LEDGERLINE_FROM_FILE"] == "file"
    assert os.environ["LEDGERLINE_EXPORTED"] == "exported"


def manage_with_only(env_file: Path, *args: str, **environment: str) -> subprocess.CompletedProcess:
    """manage.py under config.settings with nothing exported but PATH, `environment` and the .env to read."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings", "ENV_FILE": str(env_file),
             **environment},
    )


@pytest.fixture
def make_run_env_file(tmp_path) -> Path:
    """The .env `make run` writes, in a directory of its own."""
    subprocess.run(["make", "-f", str(ROOT / "Makefile"), "-C", str(tmp_path), "--silent", ".env",
                    f"PYTHON={sys.executable}"], check=True, capture_output=True, timeout=60)
    return tmp_path / ".env"


def test_make_run_writes_an_env_file_once_with_debug_a_secret_key_and_its_sqlite_database(make_run_env_file):
    written = make_run_env_file.read_text()
    values = dict(line.split("=", 1) for line in written.splitlines())

    assert values["DEBUG"] == "true"
    assert len(values["SECRET_KEY"]) >= 50
    assert values["DATABASE_URL"] == f"sqlite:///{make_run_env_file.parent / 'db.sqlite3'}"
    subprocess.run(["make", "-f", str(ROOT / "Makefile"), "-C", str(make_run_env_file.parent), "--silent", ".env"],
                   check=True, capture_output=True, timeout=60)
    assert make_run_env_file.read_text() == written  # kept, not a new secret key


def test_commands_run_with_only_the_env_file_and_no_warning_before_their_output(make_run_env_file):
    result = manage_with_only(make_run_env_file, "check", "--database", "default")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("System check identified no issues")


def test_a_real_environment_variable_wins_over_the_env_file(make_run_env_file):
    code = "from django.conf import settings; print(settings.DEBUG, settings.DATABASES['default']['NAME'])"

    result = manage_with_only(make_run_env_file, "shell", "-v", "0", "-c", code, DEBUG="false", SECRET_KEY="k" * 50)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", str(make_run_env_file.parent / "db.sqlite3")]


def test_make_run_seeds_and_serves_at_its_host_and_port():
    result = subprocess.run(["make", "-n", "-C", str(ROOT), "run", "HOST=0.0.0.0", "PORT=8123"],
                            capture_output=True, text=True, timeout=60)

    assert "SITE_URL=http://0.0.0.0:8123 .venv/bin/python manage.py seed_demo --if-empty" in result.stdout
    assert ".venv/bin/python manage.py runserver 0.0.0.0:8123" in result.stdout
