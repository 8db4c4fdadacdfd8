# The README's two commands: `make demo` (set up + main job) and `make test` (set up + tests).
PYTHON ?= python3

.PHONY: setup demo test bench lint
setup:
	PYTHON=$(PYTHON) bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	$(PYTHON) -m pytest -q

bench: setup
	for b in benchmarks/bench_*.py; do $(PYTHON) $$b || exit 1; done

lint:
	$(PYTHON) -m ruff check src tests benchmarks
