"""The package's layering: answering requests never loads install-time code or the decoders."""

from __future__ import annotations

import subprocess
import sys


def test_answering_requests_imports_no_install_time_code_and_no_decoder(tmp_path):
    code = (
        "import sys\n"
        "from edge.appliance import Edge\n"
        "from edge.shell.server import create_app\n"
        "edge = Edge()\n"
        "create_app(edge)\n"  # loads the classifier and its models, as `edge serve` does at start-up
        "loaded = sorted(m for m in sys.modules if m.startswith('edge.install') or m.split('.')[0] in "
        "('av', 'tensorflow', 'tf2onnx') or m in ('edge.indexer', 'edge.sampling', 'edge.decode', 'edge.audio', 'edge.speech'))\n"
        "print(','.join(loaded))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "EDGE_HOME": str(tmp_path)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"request-time code imported: {proc.stdout.strip()}"
