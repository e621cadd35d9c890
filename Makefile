# The two commands of README.md: `make serve` (set up, then serve the embedded default models)
# and `make test` (set up, then run the tests). Both create .venv on first use. `make demo` runs
# the scripted CLI flow (world export + encoder benchmarks) instead of the service.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
EXTRAS ?= dev,serve,eval
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export BENTOML_DO_NOT_TRACK := true
export TOKENIZERS_PARALLELISM := false

.PHONY: setup browser serve demo test test-fast clean

setup: $(VENV)/.installed browser

# Debian's Chromium for the Gradio UI's browser test (playwright drives /usr/bin/chromium; no
# browser download). Installed when missing and apt-get is usable; otherwise that test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
	   >/dev/null) || echo "chromium not installed: the browser test will skip"; }

# torch==2.13.0 first: here that is the local CPU build (a CUDA machine gets its CUDA build);
# torchvision 0.28.0 (the only release pinning torch 2.13.0) with --no-deps so that it cannot
# drag in another torch. openeyes makes the CUDA-only torchvision importable on CPU (on import, and
# through a .pth start-up hook for code that never imports openeyes, e.g. a model card's snippet).
$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet --no-deps torchvision==0.28.0
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -c "from openeyes._torchvision_compat import install_startup_hook as h; print('wrote', h())"
	$(BIN)/python -c "import openeyes, torchvision, open_clip; print('openeyes environment ready')"
	touch $@

HOST ?= 127.0.0.1
PORT ?= 3000
serve: setup
	$(BIN)/openeyes serve --host $(HOST) --port $(PORT)

# The scripted flow: a world export, then the embedded tiny CLIP scored on it.
DEMO_OUT ?= out/demo
demo: setup
	$(BIN)/openeyes world generate --out $(DEMO_OUT)/world --seed 1 --n 1080 --size 64
	$(BIN)/openeyes eval encoder --encoder zoo:tiny-clip --bench all --data $(DEMO_OUT)/world --out $(DEMO_OUT)/eval

# Everything, slow tests included (the fast suite alone: make test-fast).
test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -o addopts="" tests

test-fast: setup
	$(BIN)/python -m pytest -q -x tests -m "not slow"

clean:
	rm -rf $(VENV) build dist *.egg-info
