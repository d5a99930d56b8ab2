# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install the project into it, CPU torch first
# so pip never pulls CUDA packages on a machine without a GPU.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gre-ray-installed
# The torch build installed before everything else: the CPU build where no NVIDIA driver
# is found, PyPI's CUDA build where one is. Override both to pick another build.
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo yes)
ifeq ($(HAS_GPU),yes)
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
EXTRAS ?= gpu,dev
else
TORCH_SPEC ?= torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
EXTRAS ?= cpu,dev
endif
CONFIG ?= configs/demo.yaml
PYTEST_ARGS ?=

.PHONY: install demo test test-all bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@$(PY) -c "import torch" 2>/dev/null || \
		$(PY) -m pip install -q $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/gre-ray run $(CONFIG)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow" $(PYTEST_ARGS)

clean:
	rm -rf runs .pytest_cache build *.egg-info
