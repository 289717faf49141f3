"""Write edge/data/label_hypernyms.json: the WordNet hypernyms of the frame models' labels (ImageNet-1k, COCO).

    apt-get install wordnet-base                  # WordNet 3.0 (the version ImageNet's synsets come from)
    python scripts/label_hierarchy.py             # fetches timm's wheel for the ImageNet synset ids

ConSE (edge/conse.py) mixes label names in the text encoder's space, where a general prompt is far from a
specific label: "a flower" is nearer "arranging flowers" or "vase" than "daisy", "an insect" nearer nothing
at all than "weevil". Each label's embedding therefore takes its hypernyms' in too (daisy -> flower ->
angiosperm, tiger -> big cat -> feline). Ancestors above MAX_COVER ImageNet labels say nothing about a
frame (organism, artifact, whole) and are left out. ImageNet labels are their WordNet synsets (timm's
`imagenet_synsets.txt`, in the classifier's order); a COCO name takes its first noun sense.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORDNET = Path("/usr/share/wordnet")
TIMM = "timm==1.0.31"
SYNSETS_MEMBER = "timm/data/_info/imagenet_synsets.txt"
MAX_DEPTH = 8
MAX_COVER = 60  # an ancestor of more ImageNet labels than this is too general to be evidence
OUT = ROOT / "edge" / "data" / "label_hypernyms.json"


def read_nouns(wordnet: Path) -> dict[str, tuple[list[str], list[str]]]:
    """offset -> (lemmas, hypernym offsets) from WordNet's data.noun (format: wndb(5WN))."""
    nouns = {}
    for line in (wordnet / "data.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):  # the licence header
            continue
        fields = line.split(" | ")[0].split()
        words = int(fields[3], 16)
        lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(words)]
        k = 4 + 2 * words
        pointers = [fields[k + 1 + 4 * i : k + 5 + 4 * i] for i in range(int(fields[k]))]
        nouns[fields[0]] = (lemmas, [p[1] for p in pointers if p[0] in ("@", "@i") and p[2] == "n"])
    return nouns


def first_senses(wordnet: Path) -> dict[str, str]:
    """lemma -> its most frequent noun sense's offset (index.noun lists senses by frequency)."""
    senses = {}
    for line in (wordnet / "index.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue
        fields = line.split()
        pointer_kinds = int(fields[3])
        senses[fields[0].replace("_", " ")] = fields[4 + pointer_kinds + 2]
    return senses


def ancestors(nouns: dict, offset: str) -> list[tuple[int, str]]:
    """(depth, offset) of every hypernym up to MAX_DEPTH levels, breadth first, each once."""
    found, level, seen = [], [offset], {offset}
    for depth in range(1, MAX_DEPTH + 1):
        level = [h for o in level for h in nouns[o][1] if not (h in seen or seen.add(h))]
        found += [(depth, h) for h in level]
    return found


def imagenet_synsets(cache: Path) -> tuple[list[str], str]:
    wheel = next(cache.glob("timm-*.whl"), None)
    if wheel is None:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), TIMM], check=True)
        wheel = next(cache.glob("timm-*.whl"))
    text = zipfile.ZipFile(wheel).read(SYNSETS_MEMBER)
    return [line.strip()[1:] for line in text.decode().splitlines() if line.strip()], hashlib.sha256(text).hexdigest()


def build(imagenet_labels: Path, coco_labels: Path, cache: Path, wordnet: Path = WORDNET) -> dict:
    nouns, senses = read_nouns(wordnet), first_senses(wordnet)
    offsets, digest = imagenet_synsets(cache)
    names = [line.strip() for line in imagenet_labels.read_text().splitlines() if line.strip()]
    if len(offsets) != len(names) or names[0].split(",")[0] not in nouns[offsets[0]][0]:
        raise SystemExit("the ImageNet synset ids do not match the classifier's labels")
    coco = [line.split("\t", 1)[1].strip() for line in coco_labels.read_text().splitlines() if line.strip()]
    coco_offsets = [senses.get(n) or senses.get(n.rstrip("s")) or senses.get(n.split()[-1]) for n in coco]
    chains = [ancestors(nouns, o) for o in offsets] + [ancestors(nouns, o) if o else [] for o in coco_offsets]
    cover = Counter(h for chain in chains[: len(offsets)] for h in {h for _, h in chain})

    def kept(chain):
        return [[depth, ", ".join(nouns[h][0][:3])] for depth, h in chain if cover[h] <= MAX_COVER]

    return {
        "source": f"WordNet 3.0 (Debian wordnet-base); ImageNet synset ids from {TIMM} {SYNSETS_MEMBER}",
        "synsets_sha256": digest,
        "max_cover": MAX_COVER,
        # one list per label, in the classifier's then the detector's order (names repeat: crane, maillot)
        "imagenet": [kept(chain) for chain in chains[: len(offsets)]],
        "coco": [kept(chain) for chain in chains[len(offsets) :]],
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    from edge.settings import load_settings

    models = load_settings().models_dir
    ap.add_argument("--imagenet-labels", type=Path, default=models / "image-efficientnet-lite3" / "labels.txt")
    ap.add_argument("--coco-labels", type=Path, default=ROOT / "edge" / "data" / "coco_labels.txt")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        table = build(args.imagenet_labels, args.coco_labels, Path(tmp))
    args.out.write_text(json.dumps(table, separators=(",", ":"), ensure_ascii=False) + "\n")
    print(f"event=written path={args.out} imagenet={len(table['imagenet'])} coco={len(table['coco'])}", file=sys.stderr)


if __name__ == "__main__":
    main()
