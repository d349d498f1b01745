# `make demo` and `make test` work on a fresh machine: each creates .venv and installs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?=
# torch is pinned here (a CPU wheel is on these machines); pyproject keeps a range.
TORCH_PIN := torch==2.13.0

.PHONY: install test test-fast lint demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PIN)
	$(BIN)/pip install --quiet -e ".[dev,slurm,bigvgan,notebook,wandb]"
# aisfx carries the weights of distill.evaluation's sound-effects embedding in its wheel. --no-deps:
# it pins librosa==0.9.2, numpy==1.23.0, tqdm and argparse (which would downgrade ours) for code
# distill does not run, and it does not declare torch; its network class needs torch only.
	$(BIN)/pip install --quiet --no-deps aisfx==0.1.2
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check distill tests experiments train.py
	$(BIN)/ruff format --check distill tests experiments train.py

demo: install
	$(BIN)/python -m distill.demo $(if $(DATA),--data "$(DATA)")

clean:
	rm -rf $(VENV) demo logs outputs multirun .pytest_cache
