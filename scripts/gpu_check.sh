#!/usr/bin/env bash
# The GPU device check, one command: bash scripts/gpu_check.sh
#
# Run on the GPU machine once per part prepared by scripts/gpu_carry.py (each call carrying
# .gpu-carry/manifest.json and one .gpu-carry/part-NN). Parts are kept in $STASH between calls (the machine
# keeps files while warm); until all are there it says which are missing and stops. With all of them it
# checks and unpacks them into $STASH: site/ (onnxruntime-gpu, PyNvVideoCodec, PyAV, platformdirs, installed
# by gpu_carry.py for Python 3.12; the machine's image has numpy, OpenCV, tokenizers, torch with CUDA 13 and
# cuDNN 9) and models/, and runs scripts/gpu_check.py: providers each model
# really got, decode / model frames/s, and visual indexing for 1, 4 and 16 parallel 720p streams on the GPU
# beside the same on this machine's CPU, in under 5 minutes. A table goes to stdout, JSON to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
STASH=${EDGE_GPU_STASH:-/tmp/edge-gpu-carry}
PY=${PYTHON:-python3}
mkdir -p "$STASH/parts"
if [ -d .gpu-carry ]; then
  cp .gpu-carry/manifest.json "$STASH/manifest.json"
  for part in .gpu-carry/part-*; do [ -e "$part" ] && cp "$part" "$STASH/parts/"; done
fi
[ -f "$STASH/manifest.json" ] || { echo "gpu_check: no .gpu-carry/manifest.json carried (run scripts/gpu_carry.py)" >&2; exit 2; }
if [ -f "$STASH/ready" ] && ! cmp -s "$STASH/manifest.json" "$STASH/ready"; then
  rm -rf "$STASH/site" "$STASH/models" "$STASH/ready"  # unpacked from another carry: start over
fi

if [ ! -f "$STASH/ready" ]; then
  "$PY" - "$STASH" <<'EOF' || exit 0
import hashlib, json, sys
from pathlib import Path
stash = Path(sys.argv[1])
manifest = json.loads((stash / "manifest.json").read_text())
have, missing = [], []
for part in manifest["parts"]:
    path = stash / "parts" / part["name"]
    ok = path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == part["sha256"]
    (have if ok else missing).append(part["name"])
print(f"gpu_check: holding {len(have)} of {len(manifest['parts'])} parts" + (f"; still to carry: {' '.join(missing)}" if missing else ""))
sys.exit(1 if missing else 0)
EOF
  cat "$STASH"/parts/part-* | "$PY" -c '
import sys, tarfile
tarfile.open(fileobj=sys.stdin.buffer, mode="r|xz").extractall(sys.argv[1], filter="data")' "$STASH"
  rm -rf "$STASH/parts"
  cp "$STASH/manifest.json" "$STASH/ready"
  echo "gpu_check: unpacked $(du -sh "$STASH" | cut -f1) into $STASH" >&2
fi

export PYTHONPATH="$STASH/site:$PWD:$PWD/scripts" EDGE_MODELS_DIR="$STASH/models" EDGE_HOME="$STASH/home"
export EDGE_CACHE_DIR="$STASH/home/cache" PYTHONUNBUFFERED=1
OUT_DIR=${OUT:-$STASH/out}
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
# PyNvVideoCodec needs the driver's video libraries (a container's "video" capability), not only CUDA
{ ldconfig -p; ls ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }} /usr/local/nvidia/lib64 2>/dev/null; } | grep -E 'libnvcuvid|libnvidia-encode' \
  || echo "gpu_check: no libnvcuvid / libnvidia-encode found (ldconfig, LD_LIBRARY_PATH, /usr/local/nvidia/lib64)" >&2
timeout 290 "$PY" scripts/gpu_check.py --out "$OUT_DIR/gpu_check.json" "$@" || {
  rc=$?
  echo "gpu_check: stopped (exit $rc); measured so far:" >&2
  cat "$OUT_DIR/gpu_check.json" 2>/dev/null || true
  exit "$rc"
}
