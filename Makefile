# make run   installs what is missing (system packages included) and starts the app
# make test  the same set-up, then ruff, the import contracts and the whole test suite
# make package       the double-click app: a one-folder bundle in dist/krapition/ (prints its size)
# make package-test  builds it, then its smoke test (tests/packaging, marked `package`) under Xvfb
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON ?= $(shell command -v python3.11 || command -v python3)
ARGS ?=
PYTEST_ARGS ?=

PKG_STAMP := $(VENV)/.installed-package

.PHONY: run test setup system lint check clean package package-test

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

# PyInstaller rebuilds the bundle from scratch each time (--noconfirm replaces dist/krapition/), so a
# second `make package` gives the same bundle; its spec and check_bundle.py fail loudly on a missing part.
package: setup $(PKG_STAMP)
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
	  packaging/pyinstaller.spec
	$(PY) packaging/check_bundle.py dist/krapition --run

$(PKG_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[package]'
	@touch $(PKG_STAMP)

package-test: package
	scripts/isolated.sh $(PY) -m pytest -m package tests/packaging $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
