# The two commands of the README: `make demo` and `make test`. Both set everything up
# first (uv, the Python workspace, and for the tests the pinned harness CLIs).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV_BIN := $(CURDIR)/.venv/bin

.PHONY: uv setup test-setup clis system-packages demo tui test check lint typecheck docs bench clean

uv:  ## install uv if it is missing (from PyPI, into the user site)
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
	  $(PYTHON) -m pip install --quiet --user uv || \
	  $(PYTHON) -m pip install --quiet --user --break-system-packages uv

setup: uv  ## the workspace's virtual environment, from the lock file (no test-only packages)
	$(UV) sync --all-packages --locked --no-group test

test-setup: uv  ## the same, plus what only the tests use (the example third-party provider)
	$(UV) sync --all-packages --locked

clis:  ## the pinned harness CLIs the end-to-end tests drive
	# `npm install`, not `npm ci`: opencode-ai lists platform packages that npm leaves
	# out of the lock file, which `npm ci` then refuses. package.json pins exact versions.
	cd tests/clis && npm install --no-audit --no-fund --loglevel=error

# The Debian packages the tests drive, installed with apt-get when missing (as root, else
# with sudo): PostgreSQL's server programs (the PostgreSQL queue backend's tests start a
# throw-away server of their own, tests/support/postgres.py), tmux (the TUI and terminal
# tests) and zsh (the shell integration of shared terminals).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-packages:  ## the Debian packages the tests need: postgresql, tmux, zsh (apt-get)
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  missing="$$missing postgresql"; \
	command -v tmux >/dev/null 2>&1 || missing="$$missing tmux"; \
	command -v zsh >/dev/null 2>&1 || missing="$$missing zsh"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

demo: setup  ## run a demo workflow on the built-in offline provider, in examples/demo
	# The run goes through the project's daemon (started by it); the demo stops the
	# daemon afterwards, whatever the run's outcome, so that nothing is left running.
	cd examples/demo && $(VENV_BIN)/aegis config check && \
	  { $(VENV_BIN)/aegis workflow run demo; status=$$?; $(VENV_BIN)/aegis daemon stop; exit $$status; }

tui: setup  ## open the terminal UI in examples/demo (offline agents, a queue)
	cd examples/demo && $(VENV_BIN)/aegis

lint:
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/ruff format --check .

typecheck:
	$(VENV_BIN)/mypy

docs:
	$(VENV_BIN)/mkdocs build --strict --quiet

check: lint typecheck docs

test: test-setup clis system-packages  ## everything CI runs: lint, types, docs, the whole test suite
	$(MAKE) check
	$(VENV_BIN)/pytest

bench: setup clis  ## the benchmarks; their numbers go to docs/benchmarks.md
	$(VENV_BIN)/python -m benchmarks

clean:
	rm -rf .venv dist site tests/clis/node_modules
