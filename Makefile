# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   # train a small model on the built-in data
#   make test   # run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= lightning,keras,tf,jax,plot,dev

.PHONY: setup demo test test-slow test-gpu lint typecheck bench bench-g2p docs clean

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

# CMUdict G2P quality on the CPU, 3 seeds: Lightning (3 teacher-forcing variants) on one core and
# Keras on torch (2 variants) on the other, then one table. About 2 hours on 2 cores.
G2P_CPU := --preset cpu --max-epochs 7 --minutes 60 --seeds 0 1 2 --threads 1 --val-batches 0.25
bench-g2p: setup
	$(BIN)/python benchmarks/g2p.py --framework lightning $(G2P_CPU) --tag lightning-cpu & lightning=$$!; \
	$(BIN)/python benchmarks/g2p.py --framework keras --backend torch $(G2P_CPU) \
		--variants teacher-forcing ss-parallel --tag keras-cpu && wait $$lightning
	$(BIN)/python benchmarks/g2p.py --combine lightning-cpu keras-cpu --tag cpu

docs: setup
	$(BIN)/python docs/build_api.py

clean:
	rm -rf $(VENV) build dist *.egg-info docs/api
