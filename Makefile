# Every target creates or refreshes the local virtual environment first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_PIN := torch==2.13.0
EXTRAS ?= data,report,tensorboard,text,timeseries,integrations,retrieval,dev
#: MovieLens-100k for the recommendation recipe ships in recbole (its own dependencies are not needed)
RECIPE_DATA := recbole==1.2.1

.PHONY: install demo test test-slow lint bench bench-losses bench-noise bench-recipes clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	$(PY) -m pip install --quiet --no-deps "$(RECIPE_DATA)"
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

# the same-budget loss comparison (resumable; hours on a 2-core CPU) and its pages
bench-losses: $(STAMP)
	$(PY) benchmarks/loss_catalogue.py --dataset digits
	$(PY) benchmarks/loss_catalogue.py --dataset mnist
	$(PY) benchmarks/loss_catalogue.py --dataset mnist --published
	$(PY) benchmarks/loss_catalogue.py --dataset mnist --choose
	$(PY) benchmarks/loss_catalogue.py --dataset mnist --losses nt_xent byol simsiam --longer 40
	$(PY) benchmarks/loss_catalogue.py --dataset mnist --losses nt_xent byol --longer 80 --chosen-at 40
	$(PY) benchmarks/structured_losses.py
	$(PY) benchmarks/loss_catalogue.py --report
	$(PY) benchmarks/global_contrastive.py
	$(PY) benchmarks/global_contrastive.py --report

# noise robustness runs (resumable; hours on a CPU) and docs/noise.md
bench-noise: $(STAMP)
	$(PY) benchmarks/noisy_correspondence.py
	$(PY) benchmarks/label_noise.py --choose
	$(PY) benchmarks/noisy_code_search.py
	$(PY) benchmarks/noise_report.py

# one full run of every recipe (resumable) and docs/recipes.md
bench-recipes: $(STAMP)
	$(PY) benchmarks/recipes.py
	$(PY) benchmarks/svm_folds.py
	$(PY) benchmarks/recipes.py --report

clean:
	rm -rf $(VENV) runs build dist *.egg-info src/*.egg-info .pytest_cache
