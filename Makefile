# stationmap: `make serve` and `make test` do all the set-up they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS ?= network,planning,admin,posters,national,test
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
PYTEST_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help venv system-deps init serve test style lint bench soak clean

help:
	@echo "make serve   - set up and serve the app on http://$(HOST):$(PORT) (SQLite, sample data)"
	@echo "make test    - set up and run the whole test suite"
	@echo "make lint    - ruff, import contracts and mypy over the library (configured in pyproject.toml, setup.cfg)"
	@echo "make bench   - run the benchmarks and print their figures"
	@echo "make soak    - 50 clients for 60 s against a served instance, a worker killed at 20 s (fails if errors or p99 > 1 s)"

$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel setuptools
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

venv: $(VENV)/.installed

# Debian packages the tests need: chromium (browser tests), a font with Chinese
# glyphs (screenshots, charts) and PostgreSQL (the store is tested on it too).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy" || missing="$$missing fonts-wqy-microhei"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

init: venv
	$(VENV)/bin/stationmap init

serve: init
	$(VENV)/bin/stationmap serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: venv system-deps lint
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

# What `make test` checks first (with mypy, below): ruff (pyproject.toml [tool.ruff]) over the library and
# the benchmarks, and the import contracts (setup.cfg [importlinter]: no Flask in the library, no cycles).
style: venv
	$(VENV)/bin/ruff check stationmap benchmarks
	$(VENV)/bin/lint-imports --no-cache

# style, and mypy (setup.cfg [mypy]: every function annotated) over stationmap/; `make test` runs it first.
lint: style
	$(VENV)/bin/mypy

bench: venv
	$(PY) benchmarks/run.py

# benchmarks/bench_soak.py (also part of `make bench`); shorter: .venv/bin/python benchmarks/bench_soak.py --help
soak: venv
	$(PY) benchmarks/run.py soak

clean:
	rm -rf $(VENV) instance .pytest_cache
