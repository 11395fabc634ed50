# make run    trains the default grid on the embedded sample data, then prints its table (creates .venv when missing)
# make test   runs the test suite (creates .venv when missing)
# make lint   checks the code with ruff
# make cuda   on a machine with a GPU: the CUDA tests, then the benchmark on it into results/bench-cuda
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint cuda gradcheck bench clean

# what `run` needs, and no test or lint tool
$(VENV)/.installed-run: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

# and the tools of the tests, the benchmark, Dask and the search
$(VENV)/.installed-test: $(VENV)/.installed-run
	$(PY) -m pip install --quiet -e '.[dev,bench,dask,search]'
	touch $@

run: $(VENV)/.installed-run
	$(VENV)/bin/mlp-twins run --grid default --workers 2

test: $(VENV)/.installed-test
	$(PY) -m pytest -q -n 2

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

cuda: $(VENV)/.installed-test
	$(PY) -m pytest -q -rs tests/test_cuda.py
	$(VENV)/bin/mlp-twins bench --device cuda --out results/bench-cuda

gradcheck: $(VENV)/.installed-run
	$(VENV)/bin/mlp-twins gradcheck

bench: $(VENV)/.installed-test
	$(VENV)/bin/mlp-twins bench

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
