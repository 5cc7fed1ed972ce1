# The two commands a new machine needs: `make demo` and `make test`. Both create .venv
# and install forgetlab with pinned versions (constraints.txt) from nothing; `make demo`
# installs only what running needs (CORE), the tests add the dev extras (STAMP).
# pip compiles every installed module to bytecode one file after another (most of a fresh
# install's minute); compileall does it on every core instead (a few files written for newer
# Pythons, in torch's tests, do not compile: pip skips them silently, so does this).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORE := $(VENV)/.core
STAMP := $(VENV)/.installed
INSTALL := $(BIN)/python -m pip install --quiet --no-compile -c constraints.txt
COMPILE := $(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
# the compiled engine's kernels (L-BFGS fits, continual passes) for the dtypes given, compiled once into numba's cache
WARM = $(BIN)/python -c "from forgetlab.numerics import compiled_mlp, compiled_sgd; \
	[m.compile_kernels(tuple('$(1)'.split())) for m in (compiled_mlp, compiled_sgd)]"

.PHONY: demo test test-slow lint bench bench-strategies bench-sweep clean

$(CORE): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(INSTALL) -e .
	$(COMPILE)
	$(call WARM,float32)
	touch $(CORE)

$(STAMP): $(CORE)
	$(INSTALL) -e ".[dev]"
	$(COMPILE)
	$(call WARM,float32 float64)
	touch $(STAMP)

demo: $(CORE)
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
