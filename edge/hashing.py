"""sha256 checks: every model file is verified before it is used."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


class IntegrityError(RuntimeError):
    """A model file is missing or its bytes are not the ones the manifest names."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, expected_sha256: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise IntegrityError(f"model file missing: {path} (run `edge models install`)")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise IntegrityError(
            f"model file tampered or corrupt: {path} has sha256 {actual}, expected {expected_sha256} "
            f"(run `edge models install` to restore it)"
        )
    return path
