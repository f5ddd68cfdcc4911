# Two commands do all the set-up: `make demo` and `make test` create .venv first if it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= runs/demo
DATA ?=
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup test test-fast lint demo clean

setup: $(VENV)/.installed

# Re-runs only when the package metadata changes; pip itself is idempotent too.
$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow and not serve" $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .

demo: setup
	$(PY) scripts/demo.py --out $(OUT) $(if $(DATA),--data $(DATA)) $(DEMO_ARGS)

clean:
	rm -rf runs model-store/*.mar .pytest_cache
