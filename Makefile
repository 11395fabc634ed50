# make run   trains the default grid on the embedded sample data (creates .venv when missing)
# make test  runs the test suite (creates .venv when missing)
# make cuda  on a machine with a GPU: the CUDA tests, then the benchmark on it into results/bench-cuda
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test cuda gradcheck bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench,dask]'
	touch $@

run: $(VENV)/.installed
	$(PY) -m experiments run --grid default --workers 2

test: $(VENV)/.installed
	$(PY) -m pytest -q

cuda: $(VENV)/.installed
	$(PY) -m pytest -q -rs tests/test_cuda.py
	$(PY) -m experiments bench --device cuda --out results/bench-cuda

gradcheck: $(VENV)/.installed
	$(PY) -m experiments gradcheck

bench: $(VENV)/.installed
	$(PY) -m experiments bench

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
