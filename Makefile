# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The browser tests' Chromium: Debian's, driven by Playwright (which never downloads a browser here).
CHROMIUM := /usr/bin/chromium
SUDO   := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup browser demo test lint bench constraints clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup: $(STAMP)

browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver

demo: setup
	$(BIN)/python -m htan_submission.dev.demo

lint: setup
	$(BIN)/ruff check .

test: setup browser lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench: setup
	$(BIN)/python bench/emulator_calls.py

# Re-resolve the pinned set after editing requirements*.txt (needs the package registry).
constraints:
	rm -rf .venv-resolve && $(PYTHON) -m venv .venv-resolve
	.venv-resolve/bin/pip install --quiet -r requirements.txt -r requirements-dev.txt
	(echo "# Every package of the pinned set (runtime and dev), as resolved together on Python 3.11."; \
	 echo "# Regenerate with \`make constraints\` after changing requirements*.txt."; \
	 .venv-resolve/bin/pip freeze) > constraints.txt
	rm -rf .venv-resolve

clean:
	rm -rf $(VENV) .demo .airflow-test
