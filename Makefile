# Two entry points for users (README): `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# The main job: sample the shipped 64 px GAN and upscale its samples x4 with the shipped ESRGAN
# (images, a labelled grid and an HTML page in out/demo/). Minutes on 2 CPU cores.
demo: setup
	$(VENV)/bin/gansr posthoc --sr esrgan --out out/demo

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
