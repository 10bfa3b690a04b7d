# torinvest: `make demo` and `make test` are all a fresh clone needs (Python >= 3.11 on PATH).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/torinvest demo
	$(BIN)/torinvest investigate 6dde0a8f8d46f6acad893b30f905e97c --out out/demo \
	  --case "$$($(BIN)/python -c 'from torinvest.case import sample_case; print(sample_case().root)')"

lint: $(STAMP)
	$(BIN)/ruff check torinvest tests benchmarks tools notebooks
	$(BIN)/ruff format --check torinvest tests benchmarks tools notebooks
	$(BIN)/python tools/check_notebooks.py notebooks/*.ipynb

test: lint
	@# bytecode for every process the tests start (kernels, commands), even where
	@# PYTHONDONTWRITEBYTECODE keeps Python from writing it as it imports
	$(BIN)/python -m compileall -q torinvest
	@# three workers on two cores: with two, a fifth of the cores' time went unused while
	@# workers waited on kernels, child processes and pacers (662 of the tests: 187 s with
	@# two workers, 173 s with three, 178 s with four; the CPU time alike)
	$(BIN)/python -m pytest -n 3 --dist worksteal $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
