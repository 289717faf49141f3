"""Prepare what scripts/gpu_check.sh needs on a GPU machine that reaches no registry, in parts that fit one call.

    python scripts/gpu_carry.py [--out .gpu-carry] [--part-mib 56] [--python-version 3.12] [--xz-preset 1]

Downloads (pip download, no dependencies, CPython manylinux wheels for the GPU machine's Python 3.12)
onnxruntime-gpu, PyNvVideoCodec, PyAV, platformdirs and jellyfish, the pinned versions, and installs them into
a folder here (pip --target, cross-platform: nothing is imported); keeps only their packages (no samples,
benchmarks or bundled ffmpeg sources); takes the visual models, action model included (the shipped default
indexes with action windows), from the verified store (EDGE_MODELS_DIR); packs all of it into one xz tar
(404 MiB, 8 parts of 56 MiB, in ~4 min here at preset 1)
split into parts under --out (an ignored folder), with manifest.json (sha256 of every part and of the whole).
The device tool carries at most 64 MiB per call, working tree included, so each call carries the manifest and
one part; gpu_check.sh keeps the parts it was given (files stay while the machine is warm) and runs the check
once it holds them all. It prints the calls to make. --python-version 3.11 (this machine's) builds the same
for a rehearsal here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What edge's visual indexing imports that the GPU machine's image lacks (it has numpy, OpenCV, tokenizers, click,
# tqdm, scikit-image for the sample clip, and torch); rehearsed here in a venv of just those.
WHEELS = ["onnxruntime-gpu==1.31.1", "pynvvideocodec==2.2.4", "av==18.1.0", "platformdirs==4.14.8", "jellyfish==1.2.1"]
PACKAGES = ("onnxruntime", "PyNvVideoCodec", "av", "platformdirs", "jellyfish")  # kept, + vendored libs, dist-info
VISUAL_MODELS = ["image-efficientnet-lite3", "detect-ssd-mobilenet-v2", "text-bge-small-en", "action-i3d-kinetics400"]
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]


def _pip(*args: str, python_version: str) -> None:
    platform_args = [a for p in PLATFORMS for a in ("--platform", p)]
    subprocess.run(
        [sys.executable, "-m", "pip", *args[:1], "-q", "--no-deps", "--only-binary=:all:"]
        + ["--python-version", python_version, "--implementation", "cp", *platform_args, *args[1:]],
        check=True,
    )


def install(wheels_dir: Path, site: Path, python_version: str) -> list[str]:
    """The pinned wheels, downloaded into wheels_dir and installed into site for that Python; their names."""
    wheels_dir.mkdir(parents=True, exist_ok=True)
    _pip("download", "-d", str(wheels_dir), *WHEELS, python_version=python_version)
    names = {w.split("==")[0].replace("-", "_").lower() for w in WHEELS}
    tag = "cp" + python_version.replace(".", "")
    wheels = sorted(
        p
        for p in wheels_dir.glob("*.whl")
        if p.name.split("-")[0].lower() in names and ("-abi3-" in p.name or f"-{tag}-" in p.name or "-py3-" in p.name)
    )
    shutil.rmtree(site, ignore_errors=True)
    _pip("install", "--no-compile", "--target", str(site), *map(str, wheels), python_version=python_version)
    for entry in site.iterdir():
        # a package's vendored libraries sit beside it: "av.libs", and "pynvvideocodec." (libcudart) in 2.2.4
        vendored = any(entry.name.lower().startswith(f"{p.lower()}.") for p in PACKAGES)
        if entry.name not in PACKAGES and not vendored and not entry.name.endswith(".dist-info"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return [w.name for w in wheels]


def pack(site: Path, models_dir: Path, dest: Path, preset: int) -> None:
    with tarfile.open(dest, mode="w:xz", preset=preset) as tar:
        tar.add(site, arcname="site")
        tar.add(models_dir / "installed.json", arcname="models/installed.json")
        for model in VISUAL_MODELS:
            tar.add(models_dir / model, arcname=f"models/{model}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / ".gpu-carry")
    ap.add_argument("--part-mib", type=int, default=56, help="part size; the rest of the 64 MiB is the tree")
    ap.add_argument("--python-version", default="3.12", help="the GPU machine's Python (3.12); 3.11 to rehearse here")
    ap.add_argument("--xz-preset", type=int, default=1, help="1: a minute here; 6: ~5%% smaller, ten times slower")
    args = ap.parse_args(argv)
    from edge.settings import load_settings

    models_dir = load_settings().models_dir
    wheels = install(args.out / "wheels", args.out / "site", args.python_version)
    tar_path = args.out / "carry.tar.xz"
    print(f"packing {args.out / 'site'} and the visual models (xz, a few minutes)", file=sys.stderr)
    pack(args.out / "site", models_dir, tar_path, args.xz_preset)
    shutil.rmtree(args.out / "site")
    for old in args.out.glob("part-*"):
        old.unlink()
    parts, whole = [], hashlib.sha256()
    with tar_path.open("rb") as src:
        while chunk := src.read(args.part_mib << 20):
            name = f"part-{len(parts) + 1:02d}"
            (args.out / name).write_bytes(chunk)
            whole.update(chunk)
            parts.append({"name": name, "bytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
    total = tar_path.stat().st_size
    tar_path.unlink()
    manifest = {
        "sha256": whole.hexdigest(),
        "bytes": total,
        "parts": parts,
        "python": args.python_version,
        "wheels": wheels,
        "models": VISUAL_MODELS,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    rel = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(
        f"{len(parts)} parts, {total / 2**20:.0f} MiB in {rel}; make these device calls back to back "
        f"(the machine keeps files for 30 s after a call):",
        file=sys.stderr,
    )
    for part in parts:
        print(
            json.dumps(
                {"command": "bash scripts/gpu_check.sh", "carry": [f"{rel}/manifest.json", f"{rel}/{part['name']}"]}
            )
        )


if __name__ == "__main__":
    main()
