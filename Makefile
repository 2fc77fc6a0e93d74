PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-requirements
DEV_INSTALLED := $(VENV)/.installed-requirements-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test venv worker beat bench bench-analytics

# Re-installs only when requirements.txt changes.
$(INSTALLED): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(INSTALLED)

# What tests need beyond it (the client generator), resolved together with requirements.txt; once per change too.
$(DEV_INSTALLED): requirements-dev.txt $(INSTALLED)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $(DEV_INSTALLED)

venv: $(INSTALLED)

# Written once: what every `manage.py` command then reads (config/settings.py), so none needs a variable exported.
.env:
	printf 'DEBUG=true\nSECRET_KEY=%s\nDATABASE_URL=sqlite:///%s/db.sqlite3\n' \
		"$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" "$(CURDIR)" > $@

run: $(INSTALLED) .env
	$(BIN)/python manage.py migrate --noinput
	SITE_URL=http://$(HOST):$(PORT) $(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Production: gunicorn with config/gunicorn.py (workers, timeouts from the environment); static files by WhiteNoise.
serve: $(INSTALLED)
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/gunicorn --config config/gunicorn.py --bind $(HOST):$(PORT)

test: $(DEV_INSTALLED)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

worker: $(INSTALLED)
	$(BIN)/celery -A config worker --loglevel=info

beat: $(INSTALLED)
	$(BIN)/celery -A config beat --loglevel=info

# PostgreSQL on 127.0.0.1:5432; a scratch database is created and dropped.
bench: $(INSTALLED)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The engines its --peers mode compares with (requirements-bench.txt), resolved with requirements.txt; once per change.
$(VENV)/.installed-requirements-bench: requirements-bench.txt $(INSTALLED)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-bench.txt
	touch $@

bench-analytics: $(VENV)/.installed-requirements-bench
	$(BIN)/python bench/analytics.py $(BENCH_ARGS)
