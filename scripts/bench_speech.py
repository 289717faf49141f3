"""Speech benchmark: whisper.cpp real-time factor and word error on espeak-ng speech, alone and beside visual indexing.

    python scripts/bench_speech.py [--threads N]      # prints rows as JSON; scripts/bench.py includes them

Real-time factor (RTF) = transcription wall time / audio duration. "Beside visual indexing" runs a second
process that indexes a 720p video (visual only) in a loop for the whole transcription, as a watched folder
and a CLI run would on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speech_media import NEWS, compose  # noqa: E402

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


def word_error_rate(reference: str, hypothesis: str) -> float:
    from edge.textmatch import normalise

    ref, hyp = normalise(reference), normalise(hypothesis)
    dist = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, dist[0] = dist[0], i
        for j, h in enumerate(hyp, 1):
            prev, dist[j] = dist[j], min(dist[j] + 1, dist[j - 1] + 1, prev + (r != h))
    return dist[-1] / max(1, len(ref))


def _visual_load(video: Path, home: Path) -> subprocess.Popen:
    """A separate process indexing `video` (visual only) over and over until it is killed."""
    code = ("import sys; from pathlib import Path; from edge.appliance import Edge; from edge.decode import probe; "
            "from edge.indexer import VisualSampler, scan_samples\n"
            "edge = Edge(); p = Path(sys.argv[1])\n"
            "while True: scan_samples(p, probe(p), edge.settings.sample_fps, [VisualSampler(edge.bundle.image_encoder).feed])")
    env = {**os.environ, "EDGE_HOME": str(home), "EDGE_CACHE_DIR": str(home / "cache")}
    return subprocess.Popen([sys.executable, "-c", code, str(video)], env=env)


def bench_speech(models_dir: Path, visual_video: Path | None, threads: int | None = None,
                 log=lambda m: print(m, file=sys.stderr)) -> list[dict]:
    from edge.speech import WhisperTranscriber

    audio, _ = compose(NEWS + MORE)
    reference = " ".join(text for _, text in NEWS + MORE)
    seconds = len(audio) / 16_000
    t = time.perf_counter()
    transcriber = WhisperTranscriber(Path(models_dir) / "speech-whisper-base" / "ggml-base.bin", threads)
    rows = [{"name": "speech: model load", "value": time.perf_counter() - t, "unit": "s"}]

    def run(label: str) -> float:
        t = time.perf_counter()
        transcript = transcriber.transcribe(audio)
        rtf = (time.perf_counter() - t) / seconds
        wer = word_error_rate(reference, transcript.text)
        log(f"speech {label}: RTF {rtf:.3f} WER {wer:.3f} threads {transcriber.last_threads} over {seconds:.0f} s")
        rows.append({"name": f"speech: word error rate ({label})", "value": wer, "unit": "",
                     "note": f"{seconds:.0f} s of espeak-ng speech, greedy"})
        return rtf

    alone = run("alone")
    rows.append({"name": "speech: real-time factor, alone", "value": alone, "unit": "x", "target": 0.2, "op": "<=",
                 "note": f"{seconds:.0f} s of audio, threads {transcriber.last_threads}"})
    if visual_video is not None:
        with tempfile.TemporaryDirectory() as home:
            load = _visual_load(visual_video, Path(home))
            try:
                time.sleep(8)  # the models load and the decode loop is running
                busy = run("beside visual indexing")
            finally:
                load.kill()
                load.wait()
        rows.append({"name": "speech: RTF beside visual indexing", "value": busy, "unit": "x",
                     "target": 2 * alone, "op": "<=", "note": f"{busy / alone:.2f}x the RTF alone (target <= 2x)"})
    return rows


def main() -> None:
    from edge.settings import load_settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, help="whisper.cpp threads (default: EDGE_SPEECH_THREADS or automatic)")
    ap.add_argument("--visual-video", type=Path, help="a video to index beside the transcription")
    args = ap.parse_args()
    print(json.dumps(bench_speech(load_settings().models_dir, args.visual_video, args.threads), indent=2))


if __name__ == "__main__":
    main()
