# csms: `make run` starts everything on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
DATA_DIR ?= $(CURDIR)/data
PUBLIC_BASE_URL ?= http://localhost:$(PORT)
export DATA_DIR PUBLIC_BASE_URL

.PHONY: run test lint lock clean cluster

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py load_demo_data
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH CSMS_PORT=$(PORT) honcho -f Procfile start

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

# The production topology on this machine: nginx, 2 web processes (uvicorn), 2 Celery workers, 1 beat on PostgreSQL + Redis
# (DATABASE_URL and REDIS_URL must be set; see docs/operations.md).
cluster: $(VENV)/.installed
	$(PY) deploy/cluster.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# Regenerate requirements.lock from pyproject.toml in a throw-away environment.
lock:
	rm -rf /tmp/csms-lock && $(PYTHON) -m venv /tmp/csms-lock
	$(PYTHON) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	  print('\n'.join(p['dependencies'] + p['optional-dependencies']['dev']))" > /tmp/csms-lock/requirements.txt
	/tmp/csms-lock/bin/pip install --quiet --disable-pip-version-check -r /tmp/csms-lock/requirements.txt
	(echo "# The whole dependency tree, pinned. Regenerate with 'make lock' after changing pyproject.toml."; \
	 /tmp/csms-lock/bin/pip freeze --exclude-editable) > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
