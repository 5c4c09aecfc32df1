# The README names the commands: `make demo` (the main job), `make test` (the test suite) and `make test-fast`
# (the TF-free subset for a developer's loop).
# Both create and reuse the virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast venv bench clean

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

# the developer's loop (under 3 minutes): no TensorFlow training, no export, nothing slow; ImageJ included
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not tf and not export and not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) benchmarks/predict_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
