#!/usr/bin/env bash
# Optional: whisper.cpp on CUDA for the conversation source. NOT RUN by the project (no GPU machine with nvcc
# was available to it); speech stays on the CPU unless this is run. pywhispercpp ships CPU-only wheels, so
# this rebuilds the same pinned version from its source distribution with GGML_CUDA on. The ggml model file
# in the store is the same one (whisper.cpp picks the GPU at run time).
#
#   bash scripts/install_whisper_cuda.sh [VENV]      # default .venv; needs nvcc (CUDA toolkit), cmake, a C++ compiler
set -euo pipefail
VENV=${1:-.venv}
VERSION=$(sed -n 's/.*"pywhispercpp==\([0-9.]*\)".*/\1/p' "$(dirname "$0")/../pyproject.toml")
command -v nvcc >/dev/null || { echo "install_whisper_cuda: nvcc not found (install the CUDA toolkit first)" >&2; exit 2; }
command -v cmake >/dev/null || "$VENV/bin/pip" install -q cmake
GGML_CUDA=1 CMAKE_ARGS="-DGGML_CUDA=on" "$VENV/bin/pip" install --force-reinstall --no-deps \
  --no-binary pywhispercpp "pywhispercpp==$VERSION"
# whisper.cpp reports its backends in the system info line; CUDA must be among them.
"$VENV/bin/python" -c "import _pywhispercpp as w; info = w.whisper_print_system_info(); print(info); assert 'CUDA' in info, 'built without CUDA'"
