# The quick start: `make serve` runs the service, `make test` runs every check.
# Both create the virtual environment in .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test perf clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,perf]'
	touch $(STAMP)

# wrk from apt when missing (refreshing the package lists only if the first try fails): the load
# suite uses it, and the test suite runs that suite once on a tiny data set.
WRK := command -v wrk >/dev/null || { \
	sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	$$sudo apt-get install -y wrk || { $$sudo apt-get update && $$sudo apt-get install -y wrk; }; }

# Debian's chromium when missing: a test renders the /api/docs page in it, headless.
CHROMIUM := test -x /usr/bin/chromium || { \
	sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	$$sudo apt-get -o DPkg::Lock::Timeout=300 install -y chromium || { \
		$$sudo apt-get update && $$sudo apt-get -o DPkg::Lock::Timeout=300 install -y chromium; }; }

# promtool (Debian's prometheus package) checks deploy/prometheus/ in the test suite.
PROMTOOL := command -v promtool >/dev/null || { \
	sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	$$sudo apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends prometheus || { \
		$$sudo apt-get update && $$sudo apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends prometheus; }; }

serve: $(STAMP)
	$(BIN)/python bin/serve $(ARGS)

# pytest processes (pytest-xdist): two, the 2-core CI box; tests/conftest.py groups what shares a
# fixture or keeps both cores busy. TEST_PROCESSES=0 runs the suite in this one process.
TEST_PROCESSES ?= 2

test: $(STAMP)
	@$(WRK)
	@$(PROMTOOL)
	@$(CHROMIUM)
	$(BIN)/ruff check src tests bin/* perf
	$(BIN)/mypy
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadgroup $(ARGS)

# The load suite (perf/README.md).
perf: $(STAMP)
	@$(WRK)
	$(BIN)/python perf/run $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
