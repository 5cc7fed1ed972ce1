# The two commands a new machine needs: `make demo` and `make test`. Both create .venv
# and install forgetlab with pinned versions (constraints.txt) from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint bench bench-strategies bench-sweep clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/python -c "from forgetlab.numerics.compiled_mlp import compile_kernels; compile_kernels()"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/forgetlab tutorial --seeds 0-15

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

bench-strategies: $(STAMP)
	$(BIN)/python benchmarks/strategies.py

bench-sweep: $(STAMP)
	$(BIN)/python benchmarks/sweep_overhead.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -m "not slow"

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
