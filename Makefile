# Two commands set everything up on a fresh Debian or Ubuntu machine:
#   make run    serve the portal on http://127.0.0.1:5000 (SQLite in instance/)
#   make test   run the whole test suite
#   make chaos  kill, restart and cut off the portal's parts under load (chaos/README.md)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PAGE_CHECKS := tests/e2e/tools/node_modules/.installed
export FLASK_APP := portal

.PHONY: run test chaos lint bench worker system-deps translations messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

system-deps:
	@sh scripts/system-deps.sh $(SYSTEM_DEPS)

translations: $(STAMP)
	@$(BIN)/pybabel compile -d portal/translations -f

run: SYSTEM_DEPS = run
run: system-deps $(STAMP) translations
	@mkdir -p instance
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	$(BIN)/flask demo-logins
	@# The web server and the background worker (email outbox, scheduled notices) together;
	@# Ctrl-C stops both.
	@$(BIN)/flask worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/gunicorn --workers 2 --bind 127.0.0.1:5000 --access-logfile - 'portal:create_app()'

worker: $(STAMP) translations
	$(BIN)/flask worker

test: SYSTEM_DEPS = test
test: system-deps $(STAMP) translations lint $(PAGE_CHECKS)
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The chaos scenarios: real gunicorn and worker processes killed, a private PostgreSQL restarted,
# the mail server and the providers' stand-ins taken down (chaos/README.md).
chaos: SYSTEM_DEPS = chaos
chaos: system-deps $(STAMP) translations
	$(BIN)/python -m chaos $(CHAOS_ARGS)

# The checkers the browser tests run on pages (Nu HTML Checker, axe-core, Lighthouse), pinned in
# tests/e2e/tools/package-lock.json.
$(PAGE_CHECKS): tests/e2e/tools/package.json tests/e2e/tools/package-lock.json
	cd tests/e2e/tools && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# No function above complexity 15, no undefined names (pyproject.toml [tool.ruff]).
lint: $(STAMP)
	$(BIN)/ruff check portal bench kiosk chaos

bench: SYSTEM_DEPS = bench
bench: system-deps $(STAMP) translations
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache

messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o portal/translations/messages.pot --no-location --omit-header --sort-output portal
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations --no-fuzzy-matching --ignore-obsolete
