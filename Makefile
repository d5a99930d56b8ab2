# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install the project into it, CPU torch first
# so pip never pulls CUDA packages on a machine without a GPU.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gre-ray-installed
# The torch build to install before everything else. On a GPU machine choose a CUDA build,
# e.g. `make demo TORCH_INDEX=https://download.pytorch.org/whl/cu126`.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
CONFIG ?= configs/demo.yaml
PYTEST_ARGS ?=

.PHONY: install demo test test-all bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@$(PY) -c "import torch" 2>/dev/null || \
		$(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/gre-ray run $(CONFIG)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow" $(PYTEST_ARGS)

clean:
	rm -rf runs .pytest_cache build *.egg-info
