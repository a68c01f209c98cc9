# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   # train a small model on the built-in data
#   make test   # run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= lightning,keras,tf,jax,plot,dev

.PHONY: setup demo test test-slow test-gpu lint typecheck bench docs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

demo: setup
	$(BIN)/python -m lit_seq2seq.demo

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

test-gpu: setup
	$(BIN)/python -m pytest -q -m gpu

lint: setup
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/throughput.py --device cpu --compile

docs: setup
	$(BIN)/python docs/build_api.py

clean:
	rm -rf $(VENV) build dist *.egg-info docs/api
