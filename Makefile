# Two commands on a fresh machine:  make demo  (install + main job)   make test  (install + every check)
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	# bytecode now: where PYTHONDONTWRITEBYTECODE is set, every run would compile bulksync again
	$(BIN)/python -m compileall -q src
	touch $@

demo: install
	mkdir -p demo
	$(BIN)/bulksync generate demo/source.db --scale small --seed 42
	$(BIN)/bulksync migrate demo/source.db demo/copy.db --restart

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

test: install
	bash .ci/services
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/pytest

bench: install
	bash .ci/services
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) demo bench/out
