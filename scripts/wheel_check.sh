#!/usr/bin/env bash
# The wheel an operator would install: built from this tree, installed into a fresh venv outside the checkout,
# then `edge models verify`, `edge index`, `edge classify` and `edge report` on the sample, against the
# already-installed store.
# Usage: scripts/wheel_check.sh PYTHON SAMPLE_DIR
set -euo pipefail
python=$1
sample=$(cd "$2" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
models_dir=$("$python" -c 'from edge.settings import load_settings; print(load_settings().models_dir)')

"$python" -m pip wheel -q --no-deps -w "$work/dist" "$repo"
wheel=$(ls "$work"/dist/edge-*.whl)
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel[cpu]"
cd "$work"  # nothing of the checkout is importable from here
export EDGE_HOME="$work/home" EDGE_MODELS_DIR="$models_dir" EDGE_SOURCES=visual
"$work/venv/bin/edge" models verify > /dev/null
"$work/venv/bin/edge" index "$sample" > "$work/index.json"
"$work/venv/bin/edge" classify --video "$sample/cat_coffee.mp4" --class 'cat: a cat; kitten' --include-clips \
  > "$work/classify.json"
"$work/venv/bin/edge" report "$work/classify.json" -o "$work/report.html" > /dev/null  # the page's files are in it
"$work/venv/bin/python" - "$work/classify.json" "$work/report.html" <<'PY'
import json, sys
import edge
body = json.load(open(sys.argv[1]))
assert "site-packages" in edge.__file__, edge.__file__
from edge.install.quantize import calibration_frames  # package data the INT8 detector is made from
assert len(calibration_frames()) == 28
classes = [c["name"] for v in body["data"] for c in v["classes"]]
assert classes == ["cat"], body
report = open(sys.argv[2]).read()
assert "renderResults" in report and "data:image/jpeg;base64," in report, "report without the view or its picture"
print(f"wheel check: ok (edge from {edge.__file__}; classes {classes})")
PY
