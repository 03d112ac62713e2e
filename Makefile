# nasurf developer entry points. `make run` and `make test` each create or refresh .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
# pytest workers: both cores by default
WORKERS ?= 2

.PHONY: run test bench lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,dask]"
	touch $(STAMP)

install: $(STAMP)

# the web workbench on the default workspace (user data directory); prints its URL
run: $(STAMP)
	$(BIN)/nasurf serve

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup

PEERS := .venv-peers
$(PEERS)/.install-stamp: benchmarks/requirements-peers.txt
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet -r benchmarks/requirements-peers.txt
	touch $@

PYBOP := .venv-pybop
$(PYBOP)/.install-stamp: benchmarks/requirements-pybop.txt
	$(PYTHON) -m venv $(PYBOP)
	$(PYBOP)/bin/pip install --quiet -r benchmarks/requirements-pybop.txt
	touch $@

bench: $(STAMP) $(PEERS)/.install-stamp $(PYBOP)/.install-stamp
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build dist src/*.egg-info nasurf-demo
