"""Run-time lookup of the verified model store: which file a model is, is it the right one, and its key.

The manifest (edge/data/manifest.json) names every file. Files taken verbatim from a wheel, or made by a
deterministic conversion, are pinned there by sha256; files from a conversion that is not byte-reproducible
(tf2onnx) are pinned at install time in the store's lock file `installed.json` (see edge.install.modelstore).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from edge.hashing import IntegrityError, verify_file

DATA_DIR = Path(__file__).resolve().parent / "data"  # package data: shipped in the wheel
MANIFEST_PATH = DATA_DIR / "manifest.json"
LOCK_NAME = "installed.json"


def load_manifest() -> dict:
    return json.loads(MANIFEST_PATH.read_text())


def entries(manifest: dict):
    """(model, file entry, store-relative path) for every file in the manifest."""
    for model in manifest["models"]:
        for entry in model["files"]:
            yield model, entry, f"{model['name']}/{entry['name']}"


def sources(model: dict) -> list[dict]:
    """A model's source packages: `sources` when it needs several, else its one `source`."""
    return model.get("sources") or [model["source"]]


def archive(source: dict) -> tuple[str, str]:
    """(file name, sha256) of a source package: a wheel, or an sdist (`sdist`, `sdist_sha256`) where none exists."""
    if "sdist" in source:
        return source["sdist"], source["sdist_sha256"]
    return source["wheel"], source["wheel_sha256"]


def recipe(manifest: dict, model: dict, entry: dict) -> str:
    """Digest of everything that determines a file's bytes: a lock entry is stale when this changes."""
    spec = {k: entry.get(k) for k in ("sha256", "member", "member_sha256")}
    spec["repo_file"] = entry.get("package_file")  # its former name: stores installed before the rename stay valid
    shas = [archive(s)[1] for s in sources(model)]
    spec["wheel_sha256"] = shas[0] if len(shas) == 1 else shas  # one wheel: the digest is what it always was
    if "conversion" in entry:
        spec.update(args=entry["conversion"]["args"], tools=manifest["tools"]["requirements"])
    for kind in ("convert_in_process", "derive"):
        if kind in entry:
            spec[kind] = {k: v for k, v in entry[kind].items() if k != "note"}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def digest_tree(folder: Path) -> str:
    """sha256 over the names and bytes of the files in `folder`, in name order (package data a file is made from)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def read_lock(models_dir: Path) -> dict:
    path = Path(models_dir) / LOCK_NAME
    try:
        lock = json.loads(path.read_text())
        if not isinstance(lock, dict) or not isinstance(lock.get("files"), dict):
            raise ValueError("no table of files")
        return lock
    except FileNotFoundError:
        return {"files": {}}
    except ValueError as exc:
        raise IntegrityError(f"lock file {path} is unreadable ({exc}); run `edge models install`") from exc


def expected_sha256(manifest: dict, lock: dict, model: dict, entry: dict, rel: str, models_dir: Path) -> str:
    """The sha256 a store file must have: the manifest's pin, or the install-time pin for converted files."""
    if entry.get("sha256"):
        return entry["sha256"]
    locked = lock["files"].get(rel)
    if not isinstance(locked, dict) or locked.get("recipe") != recipe(manifest, model, entry):
        raise IntegrityError(
            f"model file not installed for this manifest: {Path(models_dir) / rel} "
            f"(no current entry in {LOCK_NAME}; run `edge models install`)"
        )
    return locked["sha256"]


def _model(manifest: dict, name: str) -> dict:
    for model in manifest["models"]:
        if model["name"] == name:
            return model
    raise ValueError(f"no model {name!r} in {MANIFEST_PATH}")


_verified: dict[tuple, Path] = {}


def file_entry(model: str, filename: str) -> dict:
    """The manifest's entry for one file of a model."""
    entry = next((e for e in _model(load_manifest(), model)["files"] if e["name"] == filename), None)
    if entry is None:
        raise ValueError(f"no file {filename!r} for model {model!r} in {MANIFEST_PATH}")
    return entry


def model_path(models_dir: Path, model: str, filename: str) -> Path:
    """Path of a store file, verified by sha256 once per process (again if its size or mtime changes)."""
    manifest = load_manifest()
    spec, entry = _model(manifest, model), file_entry(model, filename)
    rel = f"{model}/{filename}"
    path = Path(models_dir) / rel
    try:
        st = path.stat()
    except FileNotFoundError:
        raise IntegrityError(f"model file missing: {path} (run `edge models install`)") from None
    expected = expected_sha256(manifest, read_lock(models_dir), spec, entry, rel, models_dir)
    key = (str(path), st.st_mtime_ns, st.st_size, expected)
    if key not in _verified:
        _verified[key] = verify_file(path, expected)
    return path


def model_key(model: str) -> str:
    """A stored-evidence key for a model: its name and a digest of what its files are made from (pinned sha256s, or
    for non-reproducible conversions the pinned source). Changing a model in the manifest changes its key, so
    evidence it made is no longer taken for the new model's."""
    spec = _model(load_manifest(), model)
    pins = [e.get("sha256") or e.get("member_sha256") or "" for e in spec["files"]]
    return f"{model}@{hashlib.sha256('|'.join(pins).encode()).hexdigest()[:12]}"
