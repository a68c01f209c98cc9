# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   # train a grapheme-to-phoneme model on CMUdict for 5 minutes, print test WER/PER
#   make test   # run the test suite (CI runs it, then make lint)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TEST_WORKERS ?= 2
EXTRAS ?= lightning,keras,tf,jax,plot,serve,tokenizers,sentencepiece,bench,dev

.PHONY: setup demo test test-slow test-gpu lint typecheck bench bench-g2p bench-g2p-20ep bench-g2p-large bench-g2p-bahdanau bench-g2p-transformer bench-ss bench-ss-regimes bench-gpu docs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

demo: setup
	$(BIN)/python -m lit_seq2seq.demo

test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

test-gpu: setup
	$(BIN)/python -m pytest -q -m gpu

# ruff (lint and format check, on the files as they are: nothing is rewritten) and mypy over the packages.
lint: setup
	$(BIN)/ruff check seq2seq_fit lit_seq2seq keras_seq2seq datamodules tests benchmarks examples
	$(BIN)/ruff format --check seq2seq_fit lit_seq2seq keras_seq2seq datamodules tests benchmarks examples
	$(BIN)/mypy

# The throughput tables (benchmarks/results/throughput_cpu.md): the jobs of benchmarks/configs/throughput.yaml.
bench: setup
	$(BIN)/python -m benchmarks.throughput --config benchmarks/configs/throughput.yaml

# CMUdict G2P quality on the CPU: benchmarks.g2p runs the shipped fit commands (lit-seq2seq fit, keras-seq2seq fit)
# with the recipe in benchmarks/configs/g2p-<G2P_TAG>.yaml for each variant and seed, Lightning on one core and
# Keras on the other, scores each saved model on the test words, then merges one table. bench-g2p: the cpu preset,
# 7 epochs, 3 seeds, Lightning with 3 teacher-forcing variants and Keras with 2 (about 2 hours on 2 cores);
# bench-g2p-20ep: 20 epochs, teacher forcing (about 2 hours); bench-g2p-large: cpu-large at batch 64 (about
# 1 h 45 min); bench-g2p-bahdanau: cpu-bahdanau-384, seed 0 (about 100 minutes); bench-g2p-transformer:
# cpu-transformer, 7 epochs, seed 0, Keras on torch (104 minutes for Lightning, 113 for Keras). Resumable: run the
# same target again; finished runs are read, an unfinished one resumes its fit command. G2P_ARGS: more
# benchmarks.g2p options for both (G2P_ARGS=--fresh retrains); G2P_FIT_ARGS: more fit options for both.
G2P_TAG = cpu
G2P_CONFIG = benchmarks/configs/g2p-$(G2P_TAG).yaml
G2P_SEEDS = 0 1 2
G2P_LIT_VARIANTS = teacher-forcing ss-sequential ss-parallel
G2P_KERAS_VARIANTS = teacher-forcing ss-parallel
G2P_KERAS_BACKEND = torch
G2P_ARGS ?=
G2P_FIT_ARGS ?=
G2P_RUN = $(BIN)/python -m benchmarks.g2p --config $(G2P_CONFIG) --seeds $(G2P_SEEDS) --threads 1 $(G2P_ARGS)
bench-g2p-20ep: G2P_TAG = cpu-20ep
bench-g2p-large: G2P_TAG = cpu-large-b64
bench-g2p-bahdanau: G2P_TAG = cpu-bahdanau-384
bench-g2p-transformer: G2P_TAG = cpu-transformer
bench-g2p-20ep bench-g2p-large bench-g2p-bahdanau bench-g2p-transformer: G2P_LIT_VARIANTS = teacher-forcing
bench-g2p-20ep bench-g2p-large bench-g2p-bahdanau bench-g2p-transformer: G2P_KERAS_VARIANTS = teacher-forcing
bench-g2p-large bench-g2p-bahdanau bench-g2p-transformer: G2P_SEEDS = 0
bench-g2p-large bench-g2p-bahdanau: G2P_KERAS_BACKEND = jax
bench-g2p-transformer: G2P_KERAS_BACKEND = torch
bench-g2p bench-g2p-20ep bench-g2p-large bench-g2p-bahdanau bench-g2p-transformer: setup
	$(G2P_RUN) --framework lightning --variants $(G2P_LIT_VARIANTS) --cpus 0 --tag lightning-$(G2P_TAG) \
		-- $(G2P_FIT_ARGS) & lightning=$$!; \
	$(G2P_RUN) --framework keras --backend $(G2P_KERAS_BACKEND) --variants $(G2P_KERAS_VARIANTS) --cpus 1 \
		--tag keras-$(G2P_TAG) -- $(G2P_FIT_ARGS); keras=$$?; \
	wait $$lightning && test $$keras -eq 0
	$(BIN)/python -m benchmarks.g2p --combine lightning-$(G2P_TAG) keras-$(G2P_TAG) --tag $(G2P_TAG)

# When scheduled sampling helps (benchmarks/ss_study.py cpu, results/ss_cpu.{json,md,png}): teacher forcing and 6
# scheduled-sampling arms from scratch, lit-seq2seq fit with benchmarks/configs/ss-{sort,g2p}.yaml, one thread per
# process: sort (3 seeds, 1000 steps each) on one core, CMUdict G2P (preset cpu, 10 epochs, seed 0) on the other. A
# sort run takes 2-8 minutes on its own core (21 runs: about 1.5 hours). Long addition (--regimes addition) is not in
# it: at 1,000 steps teacher forcing learns no sum (0% exact match, 3 seeds). Resumable: run it again to continue;
# finished runs (results/ss_cpu_runs/, committed) are read, not retrained; an unfinished one resumes its fit command.
bench-ss: setup
	$(BIN)/python -m benchmarks.ss_study cpu --regimes sort --threads 1 --cpus 0 & synthetic=$$!; \
	$(BIN)/python -m benchmarks.ss_study cpu --regimes g2p --seeds 0 --threads 1 --cpus 1; g2p=$$?; \
	wait $$synthetic && test $$g2p -eq 0

# When scheduled sampling pays (benchmarks/ss_study.py regimes, results/ss_regimes.{json,md,png}): 3 seeds per arm,
# one core (SS_REGIMES_CPUS), one thread. finetune: the cpu-bahdanau-384 model of bench-g2p-bahdanau's rerun
# (SS_REGIMES_BASE) fine-tuned 2 epochs under teacher forcing and 4 scheduled-sampling arms (15 runs, about 3 hours);
# long-scratch, long-finetune: cmudict-phrases (30-80 phones), cpu preset, teacher forcing against the two best
# fine-tune arms, 3 epochs from scratch then 1 epoch fine-tuning the teacher-forced seed-0 model (18 runs, about
# 3.5-4 hours). Resumable: run it again; finished runs are read, an unfinished one resumes its fit command.
# SS_REGIMES_ARGS: more options (--regimes long-scratch long-finetune --arms ss-position ss-token, --seeds 0 1,
# --fresh; options after -- go to every fit, e.g. -- --trainer.max_epochs 4).
SS_REGIMES_CPUS ?= 0
SS_REGIMES_BASE ?= benchmarks/results/g2p_lightning-cpu-bahdanau-384-rerun_runs/teacher-forcing_s0/model
SS_REGIMES_ARGS ?=
bench-ss-regimes: setup
	$(BIN)/python -m benchmarks.ss_study regimes --threads 1 --cpus $(SS_REGIMES_CPUS) --base $(SS_REGIMES_BASE) \
		$(SS_REGIMES_ARGS)

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
