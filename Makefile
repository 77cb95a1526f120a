# make run   installs what is missing (system packages included) and starts the app
# make test  the same set-up, then ruff, the import contracts and the whole test suite
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON ?= $(shell command -v python3.11 || command -v python3)
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test setup system lint check clean

run: setup
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ]; then \
	  echo "No display found: running Krapition under Xvfb (a virtual screen)."; \
	  xvfb-run -a -s "-screen 0 1600x1000x24" $(VENV)/bin/krapition $(ARGS); \
	else \
	  $(VENV)/bin/krapition $(ARGS); \
	fi

test: setup lint
	scripts/isolated.sh $(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

setup: system $(STAMP)

system:
	@scripts/ensure-system-packages.sh

# Reinstalled only when the project's metadata changes, so a second `make` starts in seconds.
$(STAMP): pyproject.toml
	@[ -x "$(PY)" ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
