# nbml: `make lab` opens JupyterLab on the examples; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: venv lab notebook test test-backends test-oldest test-newest lint format bench wheel check-wheel clean

$(BIN)/.nbml-installed: pyproject.toml labextension/package.json $(wildcard labextension/widgets/*.ts labextension/widgets/*.css labextension/src/*.ts labextension/src/*.tsx labextension/style/*.css)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

venv: $(BIN)/.nbml-installed

lab: venv
	$(BIN)/jupyter lab --notebook-dir=example_notebooks $(ALLOW_ROOT) $(LAB_ARGS)

# The same examples in Jupyter Notebook 7 (the Models panel: View > Left Sidebar > Show Models).
notebook: venv
	$(BIN)/jupyter notebook --notebook-dir=example_notebooks $(ALLOW_ROOT) $(NOTEBOOK_ARGS)

test: venv
	scripts/ensure-chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	cd labextension && npm test -- --ci

# The core kernel tests on TensorFlow and torch too (make test covers JAX).
BACKEND_TESTS := tests/test_kernel_training.py tests/test_kernel_errors.py tests/test_kernel_devices.py tests/test_lr_find.py tests/test_kernel_inspector.py tests/test_seed.py
test-backends: venv
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,tensorflow,torch]'
	for backend in tensorflow torch; do \
	  echo "== KERAS_BACKEND=$$backend"; \
	  NBML_TEST_BACKEND=$$backend $(BIN)/python -m pytest $(BACKEND_TESTS) $(PYTEST_ARGS) || exit 1; \
	done
	# the export that needs TensorFlow (skipped by make test, which installs no TensorFlow)
	$(BIN)/python -m pytest tests/test_saves.py -k saved_model $(PYTEST_ARGS)

# The core suite (kernels and the API, no browser) against the oldest Keras, Optuna, JAX and
# IPython that pyproject.toml allows (pinned in .ci/oldest-constraints.txt) and against the
# newest, each in its own venv. A listed file not there yet is left out; none at all fails.
CORE_TESTS := tests/test_kernel_training.py tests/test_kernel_inspector.py tests/test_api.py \
  tests/test_sweep.py tests/test_lr_find_api.py tests/test_seed.py tests/test_compat.py \
  tests/test_handoffs.py
CORE_LIBS := keras optuna jax jaxlib ipython
OLDEST := .venv-oldest
NEWEST := .venv-newest
# nbml editable in another venv: the front-end `make venv` built in the source tree serves it
# too, so the build hook (npm) is skipped.
CORE_PIP = SKIP_JUPYTER_BUILDER=1 $(1)/bin/python -m pip install --quiet --disable-pip-version-check
define core-suite
	test -n "$(wildcard $(CORE_TESTS))" || { echo "none of CORE_TESTS exists: $(CORE_TESTS)"; exit 1; }
	$(1)/bin/python -c "import importlib.metadata as m; print('== ' + ', '.join(f'{n} {m.version(n)}' for n in '$(CORE_LIBS)'.split()))"
	$(1)/bin/python -m pytest $(wildcard $(CORE_TESTS)) $(PYTEST_ARGS)
endef

$(OLDEST)/bin/.nbml-installed: pyproject.toml .ci/oldest-constraints.txt | $(BIN)/.nbml-installed
	$(PYTHON) .ci/check-oldest-pins $(CORE_LIBS)
	test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	$(call CORE_PIP,$(OLDEST)) -e '.[test]' -c .ci/oldest-constraints.txt
	touch $@

test-oldest: $(OLDEST)/bin/.nbml-installed
	$(call core-suite,$(OLDEST))

# The newest releases at the time of the run: the five are upgraded on every run.
test-newest: venv
	test -x $(NEWEST)/bin/python || $(PYTHON) -m venv $(NEWEST)
	$(call CORE_PIP,$(NEWEST)) --upgrade -e '.[test]' $(CORE_LIBS)
	$(call core-suite,$(NEWEST))

lint: venv
	$(BIN)/ruff check nbml tests benchmarks
	$(BIN)/ruff format --check nbml tests benchmarks
	$(BIN)/lint-imports
	cd labextension && npm run lint:check

format: venv
	$(BIN)/ruff check --fix nbml tests benchmarks
	$(BIN)/ruff format nbml tests benchmarks
	cd labextension && npm run lint

bench: venv
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/overhead.py --batch-size 256 --epochs 5
	$(BIN)/python benchmarks/overhead.py --samples 20000 --features 64 --hidden 32 --defaults-budget 0.80 --skip-load-ext
	$(BIN)/python benchmarks/messages.py
	$(BIN)/python benchmarks/lr_find.py

wheel: venv
	rm -rf dist
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps -w dist .

# The wheel in a clean venv: the prebuilt extension must show up without Node.js, and the
# server extension (/nbml/kernels, for the Models panel's other kernels) enabled.
check-wheel: wheel
	rm -rf build/wheel-venv
	$(PYTHON) -m venv build/wheel-venv
	build/wheel-venv/bin/python -m pip install --quiet --disable-pip-version-check dist/nbml-*.whl
	build/wheel-venv/bin/jupyter labextension list 2>&1 | tee build/labextension-list.txt
	grep -E "nbml v[0-9.]+ .*enabled.*OK" build/labextension-list.txt
	build/wheel-venv/bin/jupyter server extension list 2>&1 | tee build/server-extension-list.txt
	grep -E "^ +nbml .*enabled" build/server-extension-list.txt
	grep -E "^ +nbml [0-9.]+ .*OK" build/server-extension-list.txt
	build/wheel-venv/bin/python -I -c "import nbml.views.widgets as w; assert 'site-packages' in str(w.STATIC) and (w.STATIC / 'monitor.js').exists()"

clean:
	rm -rf $(VENV) $(OLDEST) $(NEWEST) .pytest_cache .ruff_cache example_notebooks/.nbml
