# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   # train a grapheme-to-phoneme model on CMUdict for 5 minutes, print test WER/PER
#   make test   # run the test suite (CI runs it, then make lint)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= lightning,keras,tf,jax,plot,serve,tokenizers,sentencepiece,bench,dev

.PHONY: setup demo test test-slow test-gpu lint typecheck bench bench-g2p bench-g2p-20ep bench-g2p-large bench-g2p-bahdanau bench-ss bench-gpu docs clean

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

# ruff (lint and format check, on the files as they are: nothing is rewritten) and mypy over the packages.
lint: setup
	$(BIN)/ruff check seq2seq_fit lit_seq2seq keras_seq2seq datamodules tests benchmarks examples
	$(BIN)/ruff format --check seq2seq_fit lit_seq2seq keras_seq2seq datamodules tests benchmarks examples
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m benchmarks.throughput --device cpu --compile

# CMUdict G2P quality on the CPU, 3 seeds: Lightning on one core and Keras on torch on the other,
# then one table. bench-g2p: 7 epochs, Lightning with 3 teacher-forcing variants and Keras with 2,
# about 2 hours on 2 cores. bench-g2p-20ep: 20 epochs, teacher forcing only, about 2 hours.
G2P_EPOCHS = 7
G2P_MINUTES = 60
G2P_LIT_VARIANTS = teacher-forcing ss-sequential ss-parallel
G2P_KERAS_VARIANTS = teacher-forcing ss-parallel
G2P_TAG = cpu
# G2P_ARGS: more benchmarks.g2p arguments for both frameworks, e.g. G2P_ARGS=--fresh to retrain runs
# that have results (by default a run is resumed from its last epoch, or read when it has finished).
G2P_ARGS ?=
G2P_PRESET = cpu
G2P_SEEDS = 0 1 2
G2P_KERAS_BACKEND = torch
G2P_BATCH = 256
G2P_LR = 2e-3
G2P_PATIENCE = 4
G2P_CPU = --preset $(G2P_PRESET) --max-epochs $(G2P_EPOCHS) --minutes $(G2P_MINUTES) --seeds $(G2P_SEEDS) --threads 1 \
	--batch-size $(G2P_BATCH) --lr $(G2P_LR) --val-batches 0.25 --patience $(G2P_PATIENCE) $(G2P_ARGS)
bench-g2p-20ep: G2P_EPOCHS = 20
bench-g2p-20ep: G2P_MINUTES = 150
bench-g2p-20ep: G2P_LIT_VARIANTS = teacher-forcing
bench-g2p-20ep: G2P_KERAS_VARIANTS = teacher-forcing
bench-g2p-20ep: G2P_TAG = cpu-20ep
# bench-g2p-large and bench-g2p-bahdanau: the 2-hour CPU presets, teacher forcing, 20 epochs capped at 2 hours a run,
# Keras on JAX; seed 0 by default (G2P_SEEDS="0 1 2" adds seeds: finished runs are read, not retrained). A stopped
# run (Ctrl-C, a killed process) resumes from its last epoch when the same command runs again.
bench-g2p-large bench-g2p-bahdanau: G2P_EPOCHS = 20
bench-g2p-large bench-g2p-bahdanau: G2P_MINUTES = 120
bench-g2p-large bench-g2p-bahdanau: G2P_SEEDS = 0
bench-g2p-large bench-g2p-bahdanau: G2P_LIT_VARIANTS = teacher-forcing
bench-g2p-large bench-g2p-bahdanau: G2P_KERAS_VARIANTS = teacher-forcing
bench-g2p-large bench-g2p-bahdanau: G2P_KERAS_BACKEND = jax
# bench-g2p-large: the cpu-large preset (bi-LSTM 384) at batch 64 (lr 1e-3), early stopping on dev WER (105 minutes
# on one core for Lightning, 100 for Keras on JAX, compiles included).
bench-g2p-large: G2P_PRESET = cpu-large
bench-g2p-large: G2P_BATCH = 64
bench-g2p-large: G2P_LR = 1e-3
bench-g2p-large: G2P_TAG = cpu-large-b64
# bench-g2p-bahdanau: the cpu-bahdanau-384 preset (Bahdanau GRU 384), the preset under 26% WER, at batch 256
# (lr 2e-3, the defaults), no early stop (82 minutes on one core for Lightning, 97 for Keras on JAX).
bench-g2p-bahdanau: G2P_PRESET = cpu-bahdanau-384
bench-g2p-bahdanau: G2P_PATIENCE = 1000
bench-g2p-bahdanau: G2P_TAG = cpu-bahdanau-384
bench-g2p bench-g2p-20ep bench-g2p-large bench-g2p-bahdanau: setup
	$(BIN)/python -m benchmarks.g2p --framework lightning $(G2P_CPU) --variants $(G2P_LIT_VARIANTS) \
		--cpus 0 --tag lightning-$(G2P_TAG) & lightning=$$!; \
	$(BIN)/python -m benchmarks.g2p --framework keras --backend $(G2P_KERAS_BACKEND) $(G2P_CPU) \
		--variants $(G2P_KERAS_VARIANTS) --cpus 1 --tag keras-$(G2P_TAG); keras=$$?; \
	wait $$lightning && test $$keras -eq 0
	$(BIN)/python -m benchmarks.g2p --combine lightning-$(G2P_TAG) keras-$(G2P_TAG) --tag $(G2P_TAG)

# When scheduled sampling helps: teacher forcing and 6 scheduled-sampling variants, Lightning on the CPU,
# one thread per process: sort (3 seeds, 1000 steps each) on one core, CMUdict G2P (preset cpu, 10 epochs, seed 0)
# on the other, one table: results/ss_cpu.{json,md,png}. A sort run takes 3-6 minutes on its own core (21 runs:
# about 1.5 hours). Long addition (--tasks addition) is not in it: at 1,000 steps teacher forcing learns no sum
# (0% exact match, 3 seeds). Resumable: run it again to continue; finished runs (results/ss_cpu_runs/, committed)
# are read, not retrained.
bench-ss: setup
	$(BIN)/python -m benchmarks.scheduled_sampling --tasks sort --threads 1 --cpus 0 & synthetic=$$!; \
	$(BIN)/python -m benchmarks.scheduled_sampling --tasks g2p --threads 1 --cpus 1; g2p=$$?; \
	wait $$synthetic && test $$g2p -eq 0

# One prepared run on a GPU machine, about 9 minutes on an H100/H200: pytest -m gpu, throughput of
# Lightning and Keras (JAX, torch), G2P --preset gpu; one folder of JSON + Markdown. It uses the device's own
# python3 (its torch, jax, Lightning; no venv, no setup) and installs the missing wheels from WHEELS, made
# here once with `python -m benchmarks.gpu --download-wheels .whl`. GPU_OUT: the output folder
# (default benchmarks/results/gpu-<date>). `python -m benchmarks.gpu --smoke` checks it on a CPU.
GPU_PYTHON ?= python3
WHEELS ?= .whl
GPU_OUT ?=
bench-gpu:
	$(GPU_PYTHON) -m benchmarks.gpu $(if $(wildcard $(WHEELS)/*.whl),--wheels $(WHEELS)) $(if $(GPU_OUT),--out $(GPU_OUT))

docs: setup
	$(BIN)/python docs/build_api.py

clean:
	rm -rf $(VENV) build dist *.egg-info docs/api
