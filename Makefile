# The quick start: `make serve` runs the service, `make test` runs every check.
# Both create the virtual environment in .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test perf lint typecheck clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/python bin/serve $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check src tests bin/*
	$(BIN)/mypy
	$(BIN)/pytest $(ARGS)

perf: $(STAMP)
	$(BIN)/python perf/run $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
