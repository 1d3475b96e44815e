# Muster: two commands for a newcomer.
#   make run    virtualenv, install, keys, migrations, first admin, demo data,
#               then the web app (127.0.0.1:$PORT, default 5000), a worker and cron
#   make test   the suite: SQLite + embedded Redis, or TEST_DATABASE_URL / TEST_REDIS_URL
PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test install clean-venv

run: $(INSTALLED)
	$(VENV)/bin/python -m workers.devstack

test: $(INSTALLED)
	$(VENV)/bin/pytest -q $(PYTEST_ARGS) tests

install: $(INSTALLED)

# Reinstalled whenever pyproject.toml changes; every dependency there is pinned.
$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -qq -e '.[test]'
	touch $@

clean-venv:
	rm -rf $(VENV)
