# Every target creates or refreshes the local virtual environment first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_PIN := torch==2.13.0
EXTRAS ?= data,report,tensorboard,dev

.PHONY: install demo test test-slow lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/contrastor train --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow -o addopts=""

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

# peers for the side-by-side tables; lightly and open_clip without their torchvision dependency
bench: $(STAMP)
	$(PY) -m pip install --quiet "pytorch-metric-learning>=2.5"
	$(PY) -m pip install --quiet --no-deps lightly open-clip-torch
	$(PY) benchmarks/run_all.py --out docs/benchmarks.md
	$(PY) benchmarks/cached_memory.py --out docs/cached_memory.md

clean:
	rm -rf $(VENV) runs build dist *.egg-info src/*.egg-info .pytest_cache
