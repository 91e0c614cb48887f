# seabench: two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format bench clean

# Re-installs only when the project's install files change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,demo]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/seabench run recipes/quickstart.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark's short run (--quick; BENCH_ARGS= for the full sizes).  A FAIL against a target
# is a reported result (exit 0); only a script that crashes stops the bench.
BENCH_ARGS ?= --quick
bench: $(STAMP)
	for s in scripts/bench_*.py; do echo "== $$s"; $(BIN)/python $$s $(BENCH_ARGS) || exit 1; done

clean:
	rm -rf $(VENV) seabench-home .pytest_cache .ruff_cache *.egg-info
