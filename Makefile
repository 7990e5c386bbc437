# gan_lab: `make run` runs the notebooks top to bottom; `make test` runs every test (what CI runs);
# `make check` is the fast edit loop (unit tests only: no training, processes, browser or notebooks).
# Both create .venv (plain CPython 3.10-3.12) and install the package the first time.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: run test check lab install browser clean

## The venv with the package and its dev and scale (Ray) extras, (re)installed when pyproject.toml or constraints.txt change.
install: $(STAMP)

## Creates .venv and installs the pinned package into it (the stamp file is its "done" marker).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,scale]"
	touch $(STAMP)

## The main job: every notebook, in order, on its default (full) profile; PARAMS="-p SEED 1" passes parameters to each.
run: $(STAMP)
	$(BIN)/python -m gan_lab.notebooks $(NOTEBOOKS) $(PARAMS)

## Every test (with the JupyterLab widget test in headless Chromium) and every notebook under nbval on the quick profile, in one run on two workers: a file (a module's tests, a notebook's cells) whole on one, handed out in collection order.
test: $(STAMP) browser
	GAN_LAB_PROFILE=quick $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
	    --ignore=tests/browser_stub.ipynb -n 2 --dist loadfile --no-loadscope-reorder --durations=30

## The fast tier (< 3 min): tests not marked slow, subprocess or browser (markers in pyproject.toml); no notebooks.
check: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not subprocess and not browser" tests

## Chromium for tests/test_browser.py (Playwright drives it; no browser downloads): Debian's, installed once as root; else a hint, and the test skips.
browser:
	@if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 \
	     || [ -x /Applications/Chromium.app/Contents/MacOS/Chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
	    echo "skipping the browser test: install Chromium (Debian: sudo apt-get install chromium; macOS: brew install --cask chromium) to run it"; \
	fi

## JupyterLab on notebooks/ with this environment's kernel registered.
lab: $(STAMP)
	$(BIN)/python -m ipykernel install --user --name gan-lab --display-name "Python (gan_lab)"
	$(BIN)/jupyter lab notebooks

## Removes training runs and pytest's cache (not the venv).
clean:
	rm -rf runs .pytest_cache
