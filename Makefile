# edge: `make demo` sets everything up and classifies the bundled sample; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
# onnxruntime build: cpu (default) or gpu (onnxruntime-gpu: CUDA / TensorRT providers). Exactly one is installed.
RUNTIME ?= cpu
PY := $(VENV)/bin/python
EDGE := $(VENV)/bin/edge
SAMPLE := build/sample

.PHONY: setup models providers system-deps demo test lint wheel-check bench eval eval-fit clean

setup: $(VENV)/.installed-$(RUNTIME)

$(VENV)/.installed-$(RUNTIME): pyproject.toml
	@[ "$(RUNTIME)" = cpu ] || [ "$(RUNTIME)" = gpu ] || { echo "RUNTIME must be cpu or gpu, got '$(RUNTIME)'" >&2; exit 2; }
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@other=$$([ "$(RUNTIME)" = cpu ] && echo onnxruntime-gpu || echo onnxruntime); \
	  $(PY) -m pip uninstall -q -y $$other 2>/dev/null || true
	$(PY) -m pip install -q -e '.[$(RUNTIME),test,cluster]'
	touch $@

# Which execution providers really load on this machine (a GPU build on a machine without a GPU says why not).
providers: setup models
	$(PY) scripts/provider_check.py

models: setup
	$(EDGE) models install >&2

$(SAMPLE)/spans.json: scripts/make_sample.py | setup
	$(PY) scripts/make_sample.py $(SAMPLE) > /dev/null

$(SAMPLE)/demo-truth.json: scripts/make_demo_media.py scripts/speech_media.py scripts/text_video.py | setup system-deps
	$(PY) scripts/make_demo_media.py $(SAMPLE) > /dev/null

# Three classify responses: what the sample shows, says and displays as text.
demo: models $(SAMPLE)/spans.json $(SAMPLE)/demo-truth.json
	$(EDGE) index $(SAMPLE) --name sample > /dev/null
	$(EDGE) classify --video $(SAMPLE)/cat_coffee.mp4 --video $(SAMPLE)/rocket.mp4 \
	  --class 'cat: a cat; kitten' --class 'coffee: a cup of coffee' --options visual \
	  --include-clips --show-detailed-score --min-video-score 50
	$(EDGE) classify --video $(SAMPLE)/news.mp4 --video $(SAMPLE)/rocket.mp4 \
	  --class 'weather: weather forecast' --class 'music: saxophone' --options conversation \
	  --include-clips --min-clip-score 50 --min-duration-ratio 0.1
	$(EDGE) classify --video $(SAMPLE)/sale.mp4 --video $(SAMPLE)/news.mp4 --class 'sale: sale' \
	  --options text_in_video --conversation-option exact_match --include-clips --min-duration-ratio 0.1

# espeak-ng speaks the test audio; wordnet-base feeds the label-hierarchy test; chromium + chromium-driver run the
# browser tests (the system browser, never a downloaded one). Debian packages, installed when missing; a browser
# that cannot be installed makes those tests skip (and say so) rather than fail the set-up.
system-deps:
	@{ command -v espeak-ng && [ -f /usr/share/wordnet/data.noun ]; } >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q >&2 && $$SUDO apt-get install -y -q espeak-ng wordnet-base >&2; }
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; } >&2 \
	  || echo "make: chromium could not be installed; the browser tests will be skipped" >&2; }

test: models system-deps
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check edge tests scripts
	$(VENV)/bin/ruff format --check edge tests scripts

# The built wheel, installed in a throwaway venv with no checkout around, classifies the sample (CI runs this).
wheel-check: models $(SAMPLE)/spans.json
	bash scripts/wheel_check.sh $(PY) $(SAMPLE)

bench: models system-deps
	$(PY) scripts/bench.py

# Accuracy on the development set's report part (scripts/devset.py builds it once from Debian packages, then
# edge index / edge classify through the CLI; minutes). Not part of `make test`.
eval: models system-deps
	$(PY) scripts/evaluate.py --table

# The same on the fit part: IN-SAMPLE (what the score calibration was fitted on), for tuning only.
eval-fit: models system-deps
	$(PY) scripts/evaluate.py --part fit --table

clean:
	rm -rf build $(VENV)
