# gan_lab: `make run` runs the notebooks top to bottom; `make test` runs every test.
# Both create .venv (plain CPython 3.10-3.12) and install the package the first time.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: run test unit notebooks lab install browser clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

## The main job: every notebook, in order, on its default (full) profile.
run: $(STAMP)
	$(BIN)/python -m gan_lab.notebooks $(NOTEBOOKS)

## Unit tests (with the JupyterLab widget test in headless Chromium), then the notebooks under nbval on the quick profile.
test: $(STAMP) browser
	$(BIN)/python -m pytest tests
	GAN_LAB_PROFILE=quick $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks

## Debian's Chromium for tests/test_browser.py (Playwright drives it; no browser downloads), installed once.
browser:
	test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

## JupyterLab on notebooks/ with this environment's kernel registered.
lab: $(STAMP)
	$(BIN)/python -m ipykernel install --user --name gan-lab --display-name "Python (gan_lab)"
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf runs .pytest_cache
