#!/usr/bin/env bash
# Install edge on an NVIDIA Jetson (JetPack 6, aarch64). NOT RUN by the project: no Jetson was available to it.
#
#   bash scripts/install_jetson.sh ORT_SOURCE
#
# ORT_SOURCE is NVIDIA's onnxruntime-gpu build for the JetPack on the device: either a downloaded wheel file
# or the URL of NVIDIA's Jetson package index for that JetPack and CUDA (for JetPack 6: the jp6/cu126 index of
# the Jetson AI Lab). PyPI's onnxruntime-gpu wheels are x86_64 only. NVIDIA's build carries the TensorRT,
# CUDA and CPU execution providers, linked against JetPack's own CUDA, cuDNN and TensorRT.
# The code path is the one of any GPU machine: edge.runtime tries TensorRT -> CUDA -> CPU (engine cache and
# FP16 by default, EDGE_TRT_PRECISION=int8 for the calibrated detector); `edge models list --providers` shows
# what each model got. Decoding stays on the CPU decoder: PyNvVideoCodec is built for desktop and data-centre
# GPUs, not Jetson (the decoder choice logs that reason).
set -euo pipefail
ORT_SOURCE=${1:?usage: install_jetson.sh WHEEL_OR_INDEX_URL}
[ "$(uname -m)" = aarch64 ] || { echo "install_jetson: not an aarch64 machine" >&2; exit 2; }
[ -f /etc/nv_tegra_release ] && head -1 /etc/nv_tegra_release
cd "$(dirname "$0")/.."
python3 -m venv --system-site-packages .venv   # JetPack's numpy/OpenCV builds stay usable
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'           # no runtime extra: the Jetson build comes next
if [ -f "$ORT_SOURCE" ]; then
  .venv/bin/pip install "$ORT_SOURCE"
else
  .venv/bin/pip install --index-url "$ORT_SOURCE" onnxruntime-gpu
fi
.venv/bin/python -c "import onnxruntime as o; p = o.get_available_providers(); print(o.__version__, p); assert 'CUDAExecutionProvider' in p"
.venv/bin/edge models install >&2
.venv/bin/edge models list --providers
