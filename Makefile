# edge: `make demo` sets everything up and classifies the bundled sample; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EDGE := $(VENV)/bin/edge
SAMPLE := build/sample

.PHONY: setup models demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

models: setup
	$(EDGE) models install >&2

$(SAMPLE)/spans.json: scripts/make_sample.py | setup
	$(PY) scripts/make_sample.py $(SAMPLE) > /dev/null

demo: models $(SAMPLE)/spans.json
	$(EDGE) index $(SAMPLE) --name sample > /dev/null
	$(EDGE) classify --video $(SAMPLE)/cat_coffee.mp4 --video $(SAMPLE)/rocket.mp4 \
	  --class 'cat: a cat; kitten' --class 'coffee: a cup of coffee' --options visual \
	  --include-clips --show-detailed-score

test: models
	$(PY) -m pytest -q

bench: models
	$(PY) scripts/bench.py

clean:
	rm -rf build $(VENV)
