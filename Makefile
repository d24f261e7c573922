# Access Portal: the two commands are `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# The demo and the tests probe loopback only: the simulator stands in for Model Studio.
DEMO_ENV := DEBUG=1 PORTAL_PROBE_ALLOWED_NETWORKS=127.0.0.0/8 PORTAL_PROBE_RESOLVER=127.0.0.1:8953 \
            SSL_CERT_FILE=$(CURDIR)/var/simulator-ca.pem PORTAL_DISPATCH_EVERY_S=5 \
            PORTAL_URL=http://127.0.0.1:8000

.PHONY: install run test faults lint format bench screenshots vendor chromium clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,dev]' --config-settings editable_mode=compat
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(DEMO_ENV) $(BIN)/python manage.py migrate --no-input
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo
	@echo "Starting web (http://127.0.0.1:8000), worker, beat and the Model Studio simulator. Ctrl-C stops all."
	$(DEMO_ENV) $(BIN)/honcho --procfile Procfile.dev start

# Three pytest processes: the probe engine's tests without Django at all (it is a plain
# library), everything else, and the browser tests (Playwright's sync API keeps an event loop
# running in the main thread for the rest of its session, which would break asyncio.run()).
test: install chromium
	$(BIN)/pytest -p no:django -W ignore::pytest.PytestConfigWarning tests/engine
	$(BIN)/pytest -m "not browser and not faults" --ignore=tests/engine
	$(BIN)/pytest -m browser

# Faults injected into real processes (a worker killed, Redis stopped, the database's
# connections cut, two beats, hanging upstreams): needs PostgreSQL (DATABASE_URL) and
# redis-server on the PATH; CI's second pass runs it.
faults: install
	$(BIN)/pytest -m faults tests/faults

# The newcomer's journeys in Chromium, saving the README's screenshots under docs/screenshots/.
screenshots: install chromium
	PORTAL_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest -m browser tests/browser/test_journeys.py

chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium); \
	  else \
	    echo "chromium is missing: run 'sudo apt-get install chromium' (browser tests need /usr/bin/chromium)"; exit 1; \
	  fi; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The probe engine against a bare httpx loop; page speed with 5,000 endpoints; the cost pages
# and API with a year of hourly usage for 200 workspaces; status over time on PostgreSQL; end
# to end on PostgreSQL and Redis. The PostgreSQL ones make and drop databases of their own on
# BENCH_DATABASE_URL's server. Each writes its section of docs/benchmarks.md.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/bench_status
bench: install
	PORTAL_PROBE_ALLOWED_NETWORKS=127.0.0.0/8 $(BIN)/python -m endpoints.devtools.bench.engine --out docs/benchmarks.md
	$(BIN)/python -m endpoints.devtools.bench.pages --out docs/benchmarks.md
	$(BIN)/python -m endpoints.devtools.bench.costs --out docs/benchmarks.md
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m endpoints.devtools.bench.status --out docs/benchmarks.md
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m endpoints.devtools.bench.e2e --out docs/benchmarks.md

# Refresh the vendored front-end assets from npm (committed under static/vendor/).
vendor:
	npm install --no-fund --no-audit --no-save
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/chart.js/dist/chart.umd.min.js \
	   node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/js/bootstrap.bundle.min.js static/vendor/
	sed -i -E 's#/[/*][#@] sourceMappingURL=[^ ]*( \*/)?$$##' static/vendor/*

clean:
	rm -rf var/ .pytest_cache
