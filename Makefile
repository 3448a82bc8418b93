# AE Plan: `make run` serves the demo organisation, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := app

ICALJS := tests/icaljs

.PHONY: run test bench lint install icaljs clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "AE Plan needs Python 3.11 or newer; set PYTHON=python3.x")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	@touch $@

run: install
	@FLASK_DEBUG=1 $(BIN)/flask db upgrade
	@FLASK_DEBUG=1 $(BIN)/flask demo-data --if-empty
	@echo ""
	@echo "AE Plan is starting at http://$(HOST):$(PORT)/"
	@echo "Sign in as ae@demo.aeplan.test with password demo-password (other demo sign-ins above)."
	@echo ""
	@# The outbox worker delivers queued mail beside the server and stops with it (the
	@# trap: a background job of this shell ignores Ctrl-C, so it is sent SIGTERM).
	@if [ -n "$$MAIL_SERVER" ]; then \
	  FLASK_DEBUG=1 $(BIN)/flask outbox run & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	else \
	  echo "Mail is off (MAIL_SERVER is not set): nothing is queued, no outbox worker."; \
	fi; \
	FLASK_DEBUG=1 $(BIN)/flask run --host $(HOST) --port $(PORT)

test: install icaljs
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

# Seeds 100,000 bookings into a scratch database (SQLite, or DATABASE_URL) and measures
# every endpoint under gunicorn against a trivial route; needs wrk (apt-get install wrk).
bench: install
	@command -v wrk >/dev/null 2>&1 || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	@$(BIN)/python bench/run.py

# ical.js (Thunderbird's iCalendar parser) for the interop tests, from the npm registry,
# installed again only when package.json or the lock file is newer than node_modules.
icaljs:
	@if ! command -v node >/dev/null 2>&1; then \
	  echo "ical.js: node not found, ical.js checks skipped"; \
	elif ! command -v npm >/dev/null 2>&1; then \
	  if [ ! -d $(ICALJS)/node_modules ]; then echo "ical.js: npm not found, ical.js checks skipped"; fi; \
	elif [ ! -d $(ICALJS)/node_modules ] || [ $(ICALJS)/package.json -nt $(ICALJS)/node_modules ] \
	    || [ $(ICALJS)/package-lock.json -nt $(ICALJS)/node_modules ]; then \
	  echo "Installing ical.js into $(ICALJS)/node_modules ..."; \
	  if [ -f $(ICALJS)/package-lock.json ]; then \
	    npm ci --silent --no-audit --no-fund --prefix $(ICALJS); \
	  else \
	    npm install --silent --no-audit --no-fund --prefix $(ICALJS); \
	  fi && touch $(ICALJS)/node_modules; \
	fi

lint: install
	@$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
