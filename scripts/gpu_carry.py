"""Prepare what scripts/gpu_check.sh needs on a GPU machine that reaches no registry, in parts that fit one call.

    python scripts/gpu_carry.py [--out .gpu-carry] [--part-mib 56]

Downloads (pip download, no dependencies, CPython 3.12 manylinux wheels) onnxruntime-gpu, PyNvVideoCodec,
PyAV and platformdirs, the pinned versions; takes the visual models from the verified store (EDGE_MODELS_DIR);
packs all of it into one tar and splits it into parts under --out (an ignored folder), with manifest.json
(sha256 of every part and of the whole). The device tool carries at most 64 MiB per call, working tree
included, so each call carries the manifest and one part; gpu_check.sh keeps the parts it was given (files
stay while the machine is warm) and runs the check once it holds them all. It prints the calls to make.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ["onnxruntime-gpu==1.31.1", "pynvvideocodec==2.2.4", "av==18.1.0", "platformdirs==4.14.8"]
VISUAL_MODELS = ["image-efficientnet-lite3", "detect-ssd-mobilenet-v2", "text-bge-small-en"]
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]


def download(wheels_dir: Path) -> list[Path]:
    wheels_dir.mkdir(parents=True, exist_ok=True)
    platform_args = [a for p in PLATFORMS for a in ("--platform", p)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            *platform_args,
            "-d",
            str(wheels_dir),
            *WHEELS,
        ],
        check=True,
    )
    names = {w.split("==")[0].replace("-", "_").lower() for w in WHEELS}
    return sorted(p for p in wheels_dir.glob("*.whl") if p.name.split("-")[0].lower() in names)


def pack(wheels: list[Path], models_dir: Path, dest: Path) -> None:
    with tarfile.open(dest, mode="w") as tar:  # wheels are compressed already
        for wheel in wheels:
            tar.add(wheel, arcname=f"wheels/{wheel.name}")
        tar.add(models_dir / "installed.json", arcname="models/installed.json")
        for model in VISUAL_MODELS:
            tar.add(models_dir / model, arcname=f"models/{model}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / ".gpu-carry")
    ap.add_argument("--part-mib", type=int, default=56, help="part size; the rest of the 64 MiB is the tree")
    args = ap.parse_args(argv)
    from edge.settings import load_settings

    models_dir = load_settings().models_dir
    wheels = download(args.out / "wheels")
    tar_path = args.out / "carry.tar"
    pack(wheels, models_dir, tar_path)
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
        "wheels": [w.name for w in wheels],
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
