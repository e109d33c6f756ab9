# nbml: `make lab` opens JupyterLab on the examples; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: venv lab test lint format bench clean

$(BIN)/.nbml-installed: pyproject.toml labextension/package.json $(wildcard labextension/widgets/*.ts labextension/widgets/*.css labextension/src/*.ts labextension/src/*.tsx labextension/style/*.css)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

venv: $(BIN)/.nbml-installed

lab: venv
	$(BIN)/jupyter lab --notebook-dir=example_notebooks $(ALLOW_ROOT) $(LAB_ARGS)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	cd labextension && npm test -- --ci

lint: venv
	$(BIN)/ruff check nbml tests benchmarks
	$(BIN)/ruff format --check nbml tests benchmarks
	cd labextension && npm run lint:check

format: venv
	$(BIN)/ruff check --fix nbml tests benchmarks
	$(BIN)/ruff format nbml tests benchmarks
	cd labextension && npm run lint

bench: venv
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/overhead.py --batch-size 256 --epochs 5
	$(BIN)/python benchmarks/messages.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache example_notebooks/.nbml
