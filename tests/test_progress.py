"""Progress bars when stderr is a terminal (a real pseudo-terminal), key=value lines when it is not."""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios

from conftest import run_edge


def _on_terminal(*args: str, env: dict) -> str:
    """Run the CLI with stderr on a pseudo-terminal; what the terminal showed."""
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # 40 rows, 120 columns
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", *args], stdout=subprocess.DEVNULL, stderr=side, env={**os.environ, **env}
    )
    os.close(side)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert proc.wait(timeout=600) == 0, shown.decode(errors="replace")
    return shown.decode(errors="replace")


def test_index_shows_a_bar_on_a_terminal_and_lines_otherwise(sample_dir, edge_home, tmp_path, models_dir):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(sample_dir / "rocket.mp4", folder)
    shown = _on_terminal("index", str(folder), env={})
    assert "\r" in shown and "files 1/1" in shown and "8/8 s of video" in shown  # redrawn in place, to the end
    assert "event=progress" not in shown and "event=indexed" in shown  # the file's line above the bar
    shown = _on_terminal("index", str(folder), env={})  # unchanged: nothing to do, the bar says so
    assert "files 1/1" in shown and "0/0 s of video" in shown
    code, _, err = run_edge("index", str(folder))  # a pipe: today's greppable lines, no bar
    assert code == 0 and "event=unchanged" in err and "s of video" not in err and "\r" not in err


def test_models_install_shows_a_bar_on_a_terminal(models_dir, tmp_path):
    from edge.install import modelstore

    copy = tmp_path / "store" / "v1"
    try:  # links, not copies: install replaces files by rename and never writes into the shared store's files
        shutil.copytree(models_dir, copy, copy_function=os.link)
    except OSError:
        shutil.copytree(models_dir, copy)
    rel = "detect-ssd-mobilenet-v2/labels.txt"  # comes from this repository: repaired without network or cache
    (copy / rel).unlink()
    (copy / rel).write_text("1\tperson\n")
    shown = _on_terminal("models", "install", "--models-dir", str(copy), "--cache-dir", str(tmp_path / "cache"), env={})
    assert "models" in shown and "1/1" in shown and "\r" in shown
    modelstore.verify(copy)
    assert (models_dir / rel).read_text() != "1\tperson\n"
