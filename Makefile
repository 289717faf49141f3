# edge: `make demo` sets everything up and classifies the bundled sample; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EDGE := $(VENV)/bin/edge
SAMPLE := build/sample

.PHONY: setup models system-deps demo test bench clean

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

# espeak-ng speaks the test audio (Debian package); installed when missing.
system-deps:
	@command -v espeak-ng >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q >&2 && $$SUDO apt-get install -y -q espeak-ng >&2; }

test: models system-deps
	$(PY) -m pytest -q

bench: models system-deps
	$(PY) scripts/bench.py

clean:
	rm -rf build $(VENV)
