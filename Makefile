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

# The main job until the GAN lands (issue 7 repoints it to `gansr posthoc --sr esrgan`): make synthetic
# drawn images, then compare every SR method (shipped checkpoints) on them: table + grid in out/demo/.
demo: setup
	$(VENV)/bin/gansr data synth --out out/demo/hr --n 8 --size 256 --seed 0
	$(VENV)/bin/gansr sr bench --models all --data out/demo/hr --scale 4 --out out/demo/bench

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
