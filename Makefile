# The README's two commands: `make quickstart` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ragsift-installed

.PHONY: quickstart test test-all install clean

# torch is installed first and pinned: an unpinned torch pulls gigabytes of CUDA wheels.
# Debian's redis-server runs the shared-cache tests (they start it on 127.0.0.1), and Debian's
# chromium + chromium-driver the search page's browser test (headless, through selenium). CI runs
# as root on Debian and installs them; elsewhere install them yourself, or those tests skip.
$(STAMP): pyproject.toml
	@missing=""; command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	  command -v chromedriver >/dev/null || missing="$$missing chromium chromium-driver"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      echo "apt-get install$$missing"; \
	      apt-get update -qq && apt-get install -y -qq $$missing >/dev/null || \
	        echo "note: apt-get install$$missing failed; the Redis cache and browser tests that need them will skip"; \
	    else \
	      echo "note: not installed:$$missing (apt-get install$$missing); the Redis cache and browser tests that need them will skip"; \
	    fi; \
	  fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/ragsift quickstart

# Tests never reach a model hub. Slow tests (dense SciFact eval) run with `make test-all`.
test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
