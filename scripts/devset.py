"""Build the development set: labelled videos with time-span ground truth for visual, conversation, text_in_video.

    python scripts/devset.py build/devset [--limit N]   # both parts; prints a summary as JSON

Writes OUT/fit/*.mp4, OUT/report/*.mp4 and OUT/truth.json (the format of shared/evaluation.md: per video its
segments (label, source, start, end), ambiguous spans, and `expect` for files that must be refused). Every
picture, sentence, name and sign belongs to one part only (devset_content.split), so calibration and tuning
on the fit part never see the report part's media. Deterministic: the same packages give the same files; a
video whose plan is unchanged and whose file exists is not rendered again.

Videos come from MAKERS: each maker takes (part, context) and returns (classes, jobs). Another module adds
its own videos with one line: `MAKERS.append(module.make)` (see `Job`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import devset_content as dc  # noqa: E402
import devset_media as dm  # noqa: E402
import devset_write as dw  # noqa: E402
from make_sample import write_truncated, write_zero_byte  # noqa: E402

PARTS = ("fit", "report")
SIZE, FPS = (640, 360), 10


@dataclass(frozen=True)
class Context:
    media: dm.Media
    fonts: Path
    cache: Path


@dataclass(frozen=True)
class Job:
    """One video of a part. `plan` is any JSON (its hash decides whether the file is rendered again);
    `render(path, context)` writes the file and returns {duration, segments, ambiguous[, expect]}."""

    name: str
    plan: dict
    render: Callable[[Path, Context], dict]


def _rng(part: str, *key) -> np.random.Generator:
    digest = hashlib.sha256("/".join(map(str, (part,) + key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


# ---- the mixed videos: three sources, several classes each ----------------------------------------------------


class Pools:
    """The part's share of every list, with the stamps found in the unpacked packages."""

    def __init__(self, part: str, media: dm.Media):
        self.part = part
        self.visual = {
            c: dc.split(sum((media.stamp_files(f) for f in folders), []), part)
            + [{"art": a} for a in dc.split(art, part)]
            for c, (_, folders, art) in dc.VISUAL.items()
        }
        ambiguous_files = {f: lb for key, lb in dc.AMBIGUOUS_STAMPS.items() for f in media.stamp_files(key)}
        self.visual = {
            c: [p for p in pics if not (isinstance(p, str) and p in ambiguous_files)] for c, pics in self.visual.items()
        }
        self.negative_stamps = dc.split(
            sorted({f for folder in dc.NEGATIVE_STAMPS for f in media.stamp_files(folder)}), part
        )
        self.ambiguous_stamps = ambiguous_files
        self.abstract = dc.split(dc.ABSTRACT, part)
        self.sentences = {t: dc.split(s, part) for t, (_, s) in dc.TOPICS.items()}
        self.neutral = dc.split(dc.NEUTRAL, part)
        self.names = dc.split(dc.NAMES, part)
        self.signs = {k: dc.split(t, part) for k, (_, t) in dc.SIGNS.items()}
        self.unrelated = dc.split(dc.UNRELATED_SIGNS, part)
        self.words = dc.split(dc.SIGN_WORDS, part)

    def classes(self) -> dict:
        return {
            "visual": {c: {"prompts": p} for c, (p, _, _) in dc.VISUAL.items()},
            "conversation": {
                **{t: {"prompts": p} for t, (p, _) in dc.TOPICS.items()},
                **{f"name:{n}": {"prompts": [n], "exact": True} for n, _ in self.names},
            },
            "text_in_video": {
                **{k: {"prompts": p} for k, (p, _) in dc.SIGNS.items()},
                **{f"word:{w}": {"prompts": [w.lower()], "exact": True} for w, _ in self.words},
            },
        }


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def plan_shot(pools: Pools, rng, seconds: float) -> dict:
    r = rng.random()
    backs = ["gradient", "grey", "art:" + _pick(rng, pools.abstract)]
    back = backs[int(rng.choice(3, p=[0.5, 0.2, 0.3]))]
    if r < 0.68:
        classes = list(rng.choice(sorted(pools.visual), 2 if rng.random() < 0.25 else 1, replace=False))
        pics = [_pick(rng, pools.visual[c]) for c in classes]
        if any(isinstance(p, dict) for p in pics):  # artwork fills the frame alone
            c = classes[[isinstance(p, dict) for p in pics].index(True)]
            return {"art": pics[classes.index(c)]["art"], "labels": [c], "seconds": seconds}
        return {"stamps": pics, "back": back, "labels": sorted(classes), "seconds": seconds}
    if r < 0.84:
        stamp = _pick(rng, pools.negative_stamps)
        return {"stamps": [stamp], "back": back, "labels": [], "seconds": seconds}
    if r < 0.90:
        stamp = _pick(rng, sorted(pools.ambiguous_stamps))
        return {
            "stamps": [stamp],
            "back": back,
            "labels": [],
            "ambiguous": [pools.ambiguous_stamps[stamp]],
            "seconds": seconds,
        }
    if r < 0.97:
        art = _pick(rng, pools.abstract + dc.split(sorted(dc.AMBIGUOUS_ART), pools.part))
        return {
            "art": art,
            "labels": [],
            "ambiguous": [dc.AMBIGUOUS_ART[art]] if art in dc.AMBIGUOUS_ART else [],
            "seconds": seconds,
        }
    return {"noise": True, "labels": [], "seconds": seconds}


def _carrier(rng, word: str, label: str | None) -> list[dict]:
    before, after = _pick(rng, dc.CARRIERS)
    return [{"text": before}, {"text": word, "label": label}, {"text": after}]


def plan_speech(pools: Pools, rng) -> list[dict]:
    pieces = []
    topics = list(rng.choice(sorted(pools.sentences), int(rng.choice([1, 1, 2])), replace=False))
    for topic in topics:
        pieces.append([{"text": _pick(rng, pools.sentences[topic]), "label": topic}])
    if rng.random() < 0.4:
        pieces.append([{"text": _pick(rng, pools.neutral)}])
    r = rng.random()
    if r < 0.3:
        name, _ = _pick(rng, pools.names)
        pieces.append(_carrier(rng, name, f"name:{name}"))
    elif r < 0.5:
        _, near = _pick(rng, pools.names)
        pieces.append(_carrier(rng, _pick(rng, near), None))
    order = rng.permutation(len(pieces))
    voice, speed = _pick(rng, dc.VOICES), int(_pick(rng, dc.SPEEDS))
    return [{"parts": pieces[i], "voice": voice, "speed": speed} for i in order]


def plan_texts(pools: Pools, rng) -> list[dict]:
    texts, slots = [], rng.permutation([(0.05, 0.35), (0.35, 0.65), (0.65, 0.95)])[: int(rng.choice([0, 1, 2, 2, 3]))]
    for start, end in slots:
        r = rng.random()
        if r < 0.5:
            kind = _pick(rng, sorted(pools.signs))
            text, label = _pick(rng, pools.signs[kind]), kind
        elif r < 0.7:
            word, _ = _pick(rng, pools.words)
            text, label = word, f"word:{word}"
        elif r < 0.85:
            text, label = _pick(rng, pools.unrelated), None
        else:
            _, near = _pick(rng, pools.words)
            text, label = _pick(rng, near), None
        plate = [int(v) for v in rng.integers(0, 90, 3)] if rng.random() < 0.5 else None
        color = [255, 255, 255] if plate or rng.random() < 0.5 else [250, 225, 40]
        texts.append(
            {
                "text": text,
                "label": label,
                "start": float(start) + float(rng.uniform(0, 0.05)),
                "end": float(end),
                "x": float(rng.uniform(0.04, 0.3)),
                "y": float(_pick(rng, [0.08, 0.4, 0.75])),
                "size": int(rng.integers(26, 42)),
                "font": _pick(rng, dc.FONTS),
                "color": color,
                "plate": plate,
            }
        )
    return texts


def plan_video(pools: Pools, rng, audio: str | None = None, size=SIZE, rotate: int = 0, shots: int = 3) -> dict:
    if audio is None:
        audio = str(rng.choice(["speech", "speech", "speech", "speech", "speech_music", "room"]))
    sound = {"kind": {"speech": "room", "speech_music": "music"}.get(audio, audio)}
    if audio.startswith("speech"):
        sound.update(pieces=plan_speech(pools, rng), bed=audio == "speech_music")
    return {
        "seed": int(rng.integers(1 << 31)),
        "size": list(size),
        "fps": FPS,
        "rotate": rotate,
        "shots": [plan_shot(pools, rng, float(rng.choice([5.0, 6.0, 7.0, 8.0, 9.0]))) for _ in range(shots)],
        "audio": sound,
        "texts": plan_texts(pools, rng),
    }


def _render_plan(plan: dict):
    return lambda path, ctx: dw.render(plan, path, ctx.media, ctx.fonts)


def mixed_videos(part: str, ctx: Context) -> tuple[dict, list[Job]]:
    """24 ordinary videos, then hard negatives for sound (music, tones, noise alone) and edge cases."""
    pools = Pools(part, ctx.media)
    plans = {f"mixed{i:02d}.mp4": plan_video(pools, _rng(part, "mixed", i)) for i in range(24)}
    plans["music_only.mp4"] = plan_video(pools, _rng(part, "music"), audio="music")
    plans["music_only2.mp4"] = plan_video(pools, _rng(part, "music2"), audio="music")
    plans["tones_only.mp4"] = plan_video(pools, _rng(part, "tones"), audio="tones")
    plans["noise_only.mp4"] = plan_video(pools, _rng(part, "noise"), audio="noise")
    plans["portrait.mp4"] = plan_video(pools, _rng(part, "portrait"), size=(SIZE[1], SIZE[0]), rotate=90)
    plans["no_audio.mp4"] = plan_video(pools, _rng(part, "noaudio"), audio="none")
    short = plan_video(pools, _rng(part, "short"), audio="room", shots=1)
    short["shots"][0]["seconds"] = 1.6
    plans["short.mp4"] = short
    jobs = [Job(name, plan, _render_plan(plan)) for name, plan in plans.items()]
    truncated = plan_video(pools, _rng(part, "truncated"))

    def render_truncated(path: Path, ctx: Context) -> dict:
        whole = path.with_suffix(".whole")
        truth = dw.render(truncated, whole, ctx.media, ctx.fonts)
        write_truncated(whole, path, keep_fraction=0.45)
        whole.unlink()
        return {**truth, "expect": "error_or_partial"}

    def render_empty(path: Path, ctx: Context) -> dict:
        write_zero_byte(path)
        return {"duration": 0.0, "segments": [], "ambiguous": [], "expect": "error"}

    jobs += [Job("truncated.mp4", truncated, render_truncated), Job("empty.mp4", {"empty": True}, render_empty)]
    return pools.classes(), jobs


def name_videos(part: str, ctx: Context) -> tuple[dict, list[Job]]:
    """Rare names in varied voices and speeds (exact_match when the recogniser mishears), with sound-alikes."""
    pools = Pools(part, ctx.media)
    jobs = []
    # 8 videos: each of a part's 6 names said 2-3 times in other voices and speeds (4 said each 1-2 times, too few
    # to tell a name the recogniser always mishears from one it sometimes does)
    for i in range(8):
        rng = _rng(part, "names", i)
        plan = plan_video(pools, rng, audio="room", shots=2)
        chosen = [pools.names[(2 * i + k) % len(pools.names)] for k in range(2)]
        pieces = [_carrier(rng, name, f"name:{name}") for name, _ in chosen]
        pieces.append(_carrier(rng, _pick(rng, _pick(rng, pools.names)[1]), None))
        plan["audio"]["pieces"] = [
            {"parts": p, "voice": _pick(rng, dc.VOICES), "speed": int(_pick(rng, dc.SPEEDS))} for p in pieces
        ]
        jobs.append(Job(f"names{i}.mp4", plan, _render_plan(plan)))
    return pools.classes(), jobs


def action_videos(part: str, ctx: Context) -> tuple[dict, list[Job]]:
    """Real footage of actions (scripts/action_media.py, one recording per part). Nobody labelled the other classes
    in it, so they are ambiguous there: neither required nor wrong."""
    import action_media

    truth = action_media.write_action_videos(ctx.cache / "actions", split=part, cache=ctx.cache / "action-wheels")
    others = {source: sorted(table) for source, table in Pools(part, ctx.media).classes().items()}

    def render(name: str, shown: dict):
        def write(path: Path, _ctx: Context) -> dict:
            shutil.copyfile(ctx.cache / "actions" / name, path)
            spans = [{"label": lb, "source": src, "start": a, "end": b} for lb, src, a, b in shown["segments"]]
            unlabelled = [
                {"label": lb, "source": src, "start": 0.0, "end": shown["duration"]}
                for src, labels in others.items()
                for lb in labels
            ]
            return {
                "duration": shown["duration"],
                "segments": spans,
                "ambiguous": unlabelled
                + [{"label": lb, "source": src, "start": a, "end": b} for lb, src, a, b in shown["ambiguous"]],
            }

        return write

    jobs = [
        Job(f"action_{name}", {"action": name, "source": shown["source"]}, render(name, shown))
        for name, shown in truth.items()
    ]
    return {"visual": {c: {"prompts": p} for c, p in action_media.CLASSES.items()}}, jobs


MAKERS: list[Callable[[str, Context], tuple[dict, list[Job]]]] = [mixed_videos, name_videos, action_videos]


# Stamps that carry words of their own (road signs: STOP, SCHOOL, ...): a text class they fit is neither
# required nor wrong anywhere in the video.
TEXT_ON_STAMPS = {"town/roadsigns": "street"}


# Carrier sentences of the rare names that are talk of a topic all the same ("Next week the whole team travels
# to Mwanza for the conference" is a trip): that topic is neither required nor wrong in the video.
TOPIC_IN_CARRIERS = {"travels to": "travel"}


def derived_ambiguous(plan: dict, duration: float) -> list[dict]:
    labels = {
        ("text_in_video", label)
        for shot in plan.get("shots", [])
        for stamp in shot.get("stamps", [])
        for folder, label in TEXT_ON_STAMPS.items()
        if stamp.startswith(folder + "/")
    }
    labels |= {
        ("conversation", label)
        for piece in plan.get("audio", {}).get("pieces", [])
        for part in piece["parts"]
        for words, label in TOPIC_IN_CARRIERS.items()
        if words in part["text"]
    }
    return [
        {"label": lb, "source": source, "start": 0.0, "end": duration, "derived": True} for source, lb in sorted(labels)
    ]


def _plan_key(plan: dict) -> str:
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]


def build(out: Path, cache: Path, limit: int | None = None, parts=PARTS) -> dict:
    """Render what is missing or changed; write truth.json; return it."""
    root = dm.fetch_packages(cache)
    fonts = cache / "fonts"
    fonts.mkdir(parents=True, exist_ok=True)
    for d in ("dejavu", "liberation"):
        for ttf in (root / "usr/share/fonts/truetype" / d).glob("*.ttf"):
            if not (fonts / ttf.name).is_file():
                shutil.copyfile(ttf, fonts / ttf.name)
    ctx = Context(dm.Media(root), fonts, cache)
    truth_path = out / "truth.json"
    old = json.loads(truth_path.read_text()) if truth_path.is_file() else {"videos": []}
    known = {v["file"]: v for v in old["videos"]}
    truth = {"classes": {}, "videos": []}
    for part in parts:
        classes, jobs = {}, []
        for maker in MAKERS:
            more_classes, more_jobs = maker(part, ctx)
            for source, table in more_classes.items():
                classes.setdefault(source, {}).update(table)
            jobs += more_jobs
        truth["classes"][part] = classes
        (out / part).mkdir(parents=True, exist_ok=True)
        for job in jobs[:limit]:
            rel, key = f"{part}/{job.name}", _plan_key(job.plan)
            path = out / rel
            entry = known.get(rel)
            if not (entry and entry.get("plan_key") == key and path.exists()):
                print(f"event=render file={rel}", file=sys.stderr)
                entry = {"file": rel, "part": part, "plan_key": key, "expect": None, **job.render(path, ctx)}
            entry["ambiguous"] = [a for a in entry["ambiguous"] if not a.get("derived")] + derived_ambiguous(
                job.plan, entry["duration"]
            )
            truth["videos"].append(entry)
    truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--cache", type=Path, help="where downloaded packages are kept (default OUT/cache)")
    ap.add_argument("--limit", type=int, help="only the first N videos of each part (tests)")
    ap.add_argument("--part", choices=PARTS, action="append", help="only this part (repeatable)")
    args = ap.parse_args(argv)
    truth = build(args.out, args.cache or args.out / "cache", args.limit, tuple(args.part or PARTS))
    summary = {
        part: {
            "videos": sum(v["part"] == part for v in truth["videos"]),
            "minutes": round(sum(v["duration"] for v in truth["videos"] if v["part"] == part) / 60, 1),
            "segments": {
                s: sum(seg["source"] == s for v in truth["videos"] if v["part"] == part for seg in v["segments"])
                for s in ("visual", "conversation", "text_in_video")
            },
        }
        for part in truth["classes"]
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
