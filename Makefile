SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sonolume-installed
export MALLOC_MMAP_THRESHOLD_ ?= 4294967296
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup demo test app lint bench clean

$(STAMP): pyproject.toml .ci/setup
	bash .ci/setup
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/sonolume demo --out out

app: setup
	$(VENV)/bin/sonolume

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: setup lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider

bench: setup
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) out
