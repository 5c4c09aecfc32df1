# The README names two commands: `make demo` (the main job) and `make test` (the test suite).
# Both create and reuse the virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all,test]"
	touch $(STAMP)

demo: $(STAMP)
	KERAS_BACKEND=tensorflow $(VENV)/bin/care-bridge demo

test: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) benchmarks/predict_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
