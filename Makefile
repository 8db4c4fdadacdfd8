# The README's two commands: `make demo` (set up + main job) and `make test` (set up + tests).
# Everything runs with the virtual environment's python that scripts/setup.sh sets up: the active
# one ($VIRTUAL_ENV), else .venv in this checkout, created with $(PYTHON).
PYTHON ?= python3
PY := $(shell bash scripts/setup.sh --python)

.PHONY: setup setup-demo demo test test-fast bench lint
setup:
	PYTHON=$(PYTHON) bash scripts/setup.sh

setup-demo:
	PYTHON=$(PYTHON) bash scripts/setup.sh --demo

demo: setup-demo
	PATH="$(dir $(PY)):$$PATH" bash scripts/demo.sh

# Tests run in parallel, one pytest-xdist worker per core (JOBS=0: in this process, one after another);
# each test file stays on one worker (its module fixtures are built once: tests/support/xdist_once.py), and the
# files go out longest first (tests/support/schedule.py; xdist's own reordering is turned off for that).
JOBS ?= auto
XDIST = -n $(JOBS) --dist loadfile --no-loadscope-reorder

test: setup
	$(PY) -m pytest -q $(XDIST) --durations=25

# The edit-run lane: everything but the tests marked slow (see pyproject.toml's markers).
test-fast: setup
	$(PY) -m pytest -q $(XDIST) -m "not slow and not board" --durations=25

bench: setup
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

lint: setup
	$(PY) -m ruff check src tests benchmarks
