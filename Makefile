# Muster: two commands for a newcomer.
#   make run    virtualenv, install, keys, migrations, first admin, demo data,
#               then the web app (127.0.0.1:$PORT, default 5000), a worker and cron
#   make test   the suite: SQLite + embedded Redis, or TEST_DATABASE_URL / TEST_REDIS_URL
#   make translations   re-extract every gettext domain into its catalogs, then list what is untranslated
PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test install clean-venv translations

run: $(INSTALLED)
	$(VENV)/bin/python -m workers.devstack

test: $(INSTALLED)
	$(VENV)/bin/pytest -q $(PYTEST_ARGS) tests

install: $(INSTALLED)

# Extract (keeps translations, adds new strings empty), then check (exit 1 while anything is missing).
translations: $(INSTALLED)
	$(VENV)/bin/python -m crm.i18n_tools extract
	$(VENV)/bin/python -m crm.i18n_tools check

# Reinstalled whenever pyproject.toml changes; every dependency there is pinned.
$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -qq -e '.[test]'
	touch $@

clean-venv:
	rm -rf $(VENV)
