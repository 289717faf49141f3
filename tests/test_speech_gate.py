"""The speech gate (Silero VAD, real ONNX from the store), streamed audio and the cleaning of Whisper's output,
with real whisper.cpp: speech found where it is said, nothing in music, tones or noise, the same words
whether a track is streamed or whole, word times in the video's own time base."""

from __future__ import annotations

import numpy as np
import pytest

from edge.speech import Word, doubtful, drop_sound_tags
from edge.vad import SAMPLE_RATE, SileroVad, speech_chunks

SR = SAMPLE_RATE


@pytest.fixture(scope="module")
def vad(models_dir) -> SileroVad:
    from edge.bundles import VAD_MODEL
    from edge.modelfiles import model_path

    return SileroVad(model_path(models_dir, VAD_MODEL, "silero_vad_v6.onnx"))


@pytest.fixture(scope="module")
def transcriber(models_dir, vad):
    from edge.bundles import SPEECH_FILE, SPEECH_MODEL
    from edge.modelfiles import model_path
    from edge.speech import WhisperTranscriber

    return WhisperTranscriber(model_path(models_dir, SPEECH_MODEL, SPEECH_FILE), vad, threads=2)


def tone(seconds: float, *freqs: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (level * sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)).astype(np.float32)


def melody(seconds: float, seed: int = 1) -> np.ndarray:
    """Notes with harmonics, an envelope per note and a drum on the beat: music, no words."""
    rng = np.random.default_rng(seed)
    note_s, out = 0.25, []
    for _ in range(int(seconds / note_s)):
        f = 220.0 * 2 ** (rng.integers(0, 12) / 12)
        t = np.arange(round(note_s * SR)) / SR
        voice = sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3, 4)) * np.exp(-6 * t)
        kick = np.sin(2 * np.pi * 60 * t) * np.exp(-30 * t)
        out.append(0.25 * voice + 0.4 * kick)
    return np.concatenate(out).astype(np.float32)


def noise(seconds: float, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, round(seconds * SR)).astype(np.float32)


def chunks_of(audio: np.ndarray, vad, block_s: float = 4.0):
    step = round(block_s * SR)
    return list(speech_chunks((audio[i : i + step] for i in range(0, audio.size, step)), vad))


def w(text: str, at: float = 0.0) -> Word:
    return Word(at, at + 0.3, text, 0.9)


def test_sound_tags_are_dropped_whole_over_several_words():
    words = [
        w("[BIRDS"),
        w("CHIRPING]"),
        w("Good"),
        w("(upbeat"),
        w("music)"),
        w("evening."),
        w("♪"),
        w("la"),
        w("la"),
        w("♪"),
        w("Tonight"),
        w("[Music]"),
        w("*door"),
        w("slams*"),
        w("rain"),
        w("（拍手）"),
        w("(dramatic"),
        w("music"),
        w("continues)."),
        w("now"),
    ]
    assert [x.text for x in drop_sound_tags(words)] == ["Good", "evening.", "Tonight", "rain", "now"]
    # a tag still open when the segment ends takes the rest of it, and no more
    assert [x.text for x in drop_sound_tags([w("Hello"), w("[inaudible"), w("mumbling")])] == ["Hello"]


def test_whisper_rejection_rules_per_segment():
    assert doubtful(b" the the the the the the the the the the the the the the the the", -0.2)  # a loop
    assert doubtful(b" Thank you.", -1.8)  # a guess
    assert not doubtful(b" And now the weather forecast for tomorrow.", -0.3)


def test_the_gate_finds_each_utterance_and_skips_the_pauses(vad):
    from speech_media import speak

    said = [
        "Good morning, this is the first sentence.",
        "After a long pause comes the second one.",
        "And here is the last thing we will say today.",
    ]
    parts, truth, at = [np.zeros(3 * SR, np.float32)], [], 3.0
    for i, text in enumerate(said):
        voice = speak(text, voice="en-gb" if i % 2 else "en-us")
        truth.append((at, at + voice.size / SR))
        parts += [voice, np.zeros(6 * SR, np.float32)]
        at += voice.size / SR + 6
    audio = np.concatenate(parts) + noise(at, seed=3) * 0.02
    chunks = chunks_of(audio, vad)
    assert len(chunks) == len(said)  # 6 s pauses split chunks; the silence between is never passed on
    for chunk, (start, end) in zip(chunks, truth):
        assert chunk.start <= start + 0.05 and chunk.start + chunk.seconds >= end - 0.05  # every word inside
        assert chunk.start >= start - 0.8 and chunk.start + chunk.seconds <= end + 0.5  # little else
        np.testing.assert_array_equal(chunk.audio, audio[round(chunk.start * SR) :][: chunk.audio.size])
    assert sum(c.seconds for c in chunks) < 0.5 * audio.size / SR


@pytest.mark.parametrize(
    "name, audio",
    [
        ("chord", tone(20, 220, 277.2, 329.6)),
        ("tone", tone(20, 440)),
        ("sweep", None),
        ("melody", melody(20)),
        ("noise", noise(20)),
        ("hum", tone(20, 50, 100, level=0.05)),
        ("clicks", None),
    ],
)
def test_the_gate_passes_nothing_of_music_tones_and_noise(vad, name, audio):
    if name == "sweep":
        t = np.arange(20 * SR) / SR
        audio = (0.3 * np.sin(2 * np.pi * (200 * t + 40 * t**2))).astype(np.float32)
    if name == "clicks":
        audio = np.zeros(20 * SR, np.float32)
        audio[:: SR // 3] = 0.9
    assert chunks_of(audio, vad) == []


def test_music_and_tone_tracks_give_zero_words_through_the_indexer(tmp_path):
    from conftest import index_with_sources
    from make_sample import write_video

    folder = tmp_path / "videos"
    folder.mkdir()
    small = (160, 120)
    write_video(folder / "melody.mp4", [("camera", 20)], size=small, fps=5, audio=melody(20))
    write_video(folder / "tone.mp4", [("coffee", 12)], size=small, fps=5, audio=tone(12, 1000))
    write_video(
        folder / "chords.mp4",
        [("rocket", 15)],
        size=small,
        fps=5,
        audio=tone(15, 261.6, 329.6, 392.0) * (0.6 + 0.4 * np.sign(np.sin(np.arange(15 * SR) / SR * 8))),
    )
    indexed = index_with_sources(folder, tmp_path / "home", ("conversation",))
    key = indexed["text"].key("conversation")
    for name in ("melody.mp4", "tone.mp4", "chords.mp4"):
        timed = indexed["store"].timed_text(indexed["ids"][name], "conversation", key)
        assert timed.items == [] and timed.language is None, (name, timed.items)


def test_streamed_and_whole_tracks_give_the_same_words(tmp_path, transcriber):
    from make_sample import write_video
    from speech_media import NEWS, compose

    from edge.audio import audio_blocks, load_audio

    audio, _ = compose(NEWS[:3])
    video = tmp_path / "news.mp4"
    write_video(video, [("astronaut", int(np.ceil(audio.size / SR)))], size=(160, 120), fps=5, audio=audio)
    whole = transcriber.transcribe(load_audio(video))
    assert len(whole.words) > 40 and whole.language == "en"
    for block_s in (4.0, 0.7):
        streamed = transcriber.transcribe(audio_blocks(video, block_s=block_s))
        assert streamed == whole


def test_word_times_stay_in_the_video_time_base_after_skipped_silence_and_music(transcriber):
    from speech_media import speak

    lead = np.concatenate([melody(25), np.zeros(20 * SR, np.float32)])  # 45 s the gate skips
    first, keyword = speak("The next train to the city leaves from"), speak("platform")
    gap = np.zeros(round(0.08 * SR), np.float32)
    audio = np.concatenate([lead, first, gap, keyword, gap, speak("seven."), np.zeros(2 * SR, np.float32)])
    start = (lead.size + first.size + gap.size) / SR
    transcript = transcriber.transcribe(audio)
    assert transcriber.last_stats["speech_s"] < 8  # the music and silence never reached Whisper
    (word,) = [x for x in transcript.words if "platform" in x.text.lower()]
    assert abs(word.start - start) <= 0.6 and abs(word.end - (start + keyword.size / SR)) <= 0.6  # DTW: ~0.4 s here


def test_chunks_are_packed_into_windows_and_times_map_back_to_the_track():
    from edge.speech import packs
    from edge.vad import Chunk

    chunks = [
        Chunk(start, np.full(round(s * SR), i, np.float32))
        for i, (start, s) in enumerate([(3.0, 10.0), (20.0, 12.0), (40.0, 7.0), (60.0, 27.0), (100.0, 2.0)])
    ]
    got = list(packs(chunks, limit_s=28.0))
    assert [p.starts for p in got] == [(3.0, 20.0), (40.0,), (60.0,), (100.0,)]  # in order, never over 28 s
    np.testing.assert_array_equal(got[0].audio, np.concatenate([chunks[0].audio, chunks[1].audio]))
    assert got[0].offsets == (0.0, 10.0)
    assert got[0].track_time(0.0) == 3.0 and got[0].track_time(9.5) == 12.5  # inside chunk 0
    assert got[0].track_time(10.0) == 20.0 and got[0].track_time(21.0) == 31.0  # inside chunk 1
    assert list(packs([])) == []


def test_utterances_apart_are_one_whisper_window_with_each_word_at_its_own_time(transcriber):
    """Three utterances 4 s apart are three chunks of the gate, one pack, one encoder pass (whisper.cpp never
    seeks inside a pack: where it did, a seek leaving 0.10-0.15 s aborted the process in its DTW step), and
    each word comes back at its own time in the track."""
    import _pywhispercpp as pw
    from speech_media import speak

    said = ["The weather will be dry and sunny.", "Traffic is heavy on the bridge.", "The museum opens at nine."]
    parts, truth, at = [np.zeros(2 * SR, np.float32)], [], 2.0
    for text in said:
        voice = speak(text)
        truth.append((at, at + voice.size / SR))
        parts += [voice, np.zeros(4 * SR, np.float32)]
        at += voice.size / SR + 4
    encodes = []
    transcriber._detect_language = lambda audio: "en"  # the language pass has its own encoder call
    pw.assign_encoder_begin_callback(transcriber._model._params, lambda *_: encodes.append(1) or True)
    try:
        transcript = transcriber.transcribe(np.concatenate(parts))
    finally:
        pw.clear_encoder_begin_callback(transcriber._model._params)
        del transcriber._detect_language
    assert transcriber.last_stats["chunks"] == 3 and transcriber.last_stats["packs"] == 1 and len(encodes) == 1
    for first_word, (start, end) in zip(("weather", "traffic", "museum"), truth):
        (word,) = [w for w in transcript.words if first_word in w.text.lower()]
        assert start - 0.6 <= word.start and word.end <= end + 0.6, (first_word, word, start, end)


@pytest.mark.parametrize(
    "sentence, readings",
    [
        ("The museum opens at nine and closes early on public holidays.", 1),  # sure at once (p 0.98)
        ("Let the soup simmer for twenty minutes, then blend it with a little cream.", 2),  # unsure (p 0.44)
    ],
)
def test_an_unsure_language_reading_is_read_again_over_the_full_window(transcriber, sentence, readings):
    from speech_media import speak

    said = speak(sentence, words_per_minute=135, voice="en-gb-x-rp")
    audio = np.concatenate([np.zeros(SR // 2, np.float32), said, np.zeros(SR // 2, np.float32)])
    sizes, read = [], transcriber._language

    def spy(samples):  # the real reading, recorded
        sizes.append(samples.size)
        return read(samples)

    transcriber.last_threads = 2
    transcriber._language = spy
    try:
        language = transcriber._detect_language(audio)
    finally:
        del transcriber._language
    assert language == "en" and len(sizes) == readings
    assert sizes[0] == audio.size and sizes[1:] in ([], [30 * SR])
