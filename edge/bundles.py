"""Which models answer: the visual bundle and the text models, each behind the interfaces scoring sees.

Visual bundle: an ImageEncoder, a TextEncoder in the same space, and the bundle's calibration. `conse`
(default) is built from the verified model store; any other value of EDGE_VISUAL_BUNDLE is the path of an
operator-provisioned CLIP/SigLIP bundle (see edge/dual.py). Scoring sees only VisualBundle.

Text models: matching of what is said or shown is text to text, so it always uses the text encoder (bge),
whatever visual bundle is configured, with its own calibration; the transcriber and the OCR engine read
the text at index time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from edge.calibration import Calibration, mixture_reference
from edge.encoders import ImageEncoder, TextEncoder
from edge.modelfiles import DATA_DIR, file_entry, model_key, model_path
from edge.settings import Settings
from edge.types import CONVERSATION, TEXT_IN_VIDEO

CONSE_CALIBRATION = DATA_DIR / "conse.json"
TEXT_CALIBRATION = DATA_DIR / "text.json"
TEXT_REFERENCE = DATA_DIR / "text-reference.txt"
TEXT_ENCODER = "text-bge-small-en"
SPEECH_MODEL = "speech-whisper-base"
SPEECH_FILE = (
    "ggml-base-q8_0.bin"  # Q8_0 weights: less CPU than float16 at the same word error (scripts/bench_speech.py)
)
VAD_MODEL = "vad-silero"
# How edge.speech turns a track into words (the gate, the packing into windows, the prompt): part of the store
# key, so a change here re-transcribes old videos instead of mixing two kinds of transcript.
SPEECH_PIPELINE = "packed-28s-2"
OCR_MODEL = "ocr-ppocrv6"
CLASSIFIER = "image-efficientnet-lite3"
DETECTOR = "detect-ssd-mobilenet-v2"
# Their CPU copies (edge.install.quantize), best first; the model as converted where this CPU reproduces none.
CLASSIFIER_COPIES = ("model.u8.onnx", "model.u8u.onnx")
DETECTOR_COPIES = ("model.int8.onnx", "model.int8u.onnx")
ACTION_MODEL = "action-i3d-kinetics400"


@dataclass(frozen=True)
class VisualBundle:
    name: str
    image_encoder: ImageEncoder
    text_encoder: TextEncoder
    calibration: Calibration

    @property
    def key(self) -> str:
        return self.image_encoder.key


@lru_cache(maxsize=4)  # one bge session per process: ConSE's labels and text matching (edge.textsources) share it
def load_text_encoder(settings: Settings) -> TextEncoder:
    from edge.text_bge import BgeTextEncoder

    return BgeTextEncoder(
        model_path(settings.models_dir, TEXT_ENCODER, "model.onnx"),
        model_path(settings.models_dir, TEXT_ENCODER, "tokenizer.json"),
        key=TEXT_ENCODER,
        provider=settings.provider,
        threads=settings.threads,
    )


def load_visual_bundle(settings: Settings, calibration: dict | None = None) -> VisualBundle:
    """The configured bundle; `calibration` replaces the stored one (used when refitting it)."""
    if settings.visual_bundle != "conse":
        from edge.dual import load_dual_bundle

        dual = load_dual_bundle(Path(settings.visual_bundle), settings.provider, settings.threads)
        return VisualBundle(
            Path(settings.visual_bundle).name,
            dual.image_encoder,
            dual.text_encoder,
            Calibration.from_dict(calibration or dual.calibration),
        )

    from edge.actions import ActionModel
    from edge.conse import ConseImageEncoder

    text = load_text_encoder(settings)
    store = settings.models_dir
    actions = None
    if settings.action_every_s > 0:  # never with a CLIP bundle (above): its image encoder sees the frames itself
        actions = ActionModel(
            model_path(store, ACTION_MODEL, "model.onnx"),
            model_path(store, ACTION_MODEL, "labels.txt"),
            model_key(ACTION_MODEL),
            provider=settings.provider,
            threads=settings.threads or 1,
        )
    image = ConseImageEncoder(
        model_path(store, CLASSIFIER, frame_model_file(settings, CLASSIFIER, CLASSIFIER_COPIES)),
        model_path(store, CLASSIFIER, "labels.txt"),
        model_path(store, DETECTOR, frame_model_file(settings, DETECTOR, DETECTOR_COPIES)),
        model_path(store, DETECTOR, "labels.txt"),
        # One intra-op thread unless EDGE_THREADS says otherwise: as fast (7.4x vs 7.6x realtime at 720p, the
        # decoder overlaps on its own thread) for less CPU, and the work stays on the background-priority
        # frame thread (edge.sampling.scan_samples) instead of pool threads at normal priority.
        text,
        cache_dir=settings.cache_dir,
        provider=settings.provider,
        threads=settings.threads or 1,
        actions=actions,
        split_views=settings.frame_views,
        action_every_s=settings.action_every_s,
    )
    spec = calibration or json.loads(CONSE_CALIBRATION.read_text())
    # The reference is mixtures of the frame labels only, as the stored calibration was fitted with: action
    # labels add evidence where something moves, they do not change what "nothing in particular" looks like.
    reference = mixture_reference(image.label_vectors[: image.action_columns.start])
    return VisualBundle("conse", image, text, Calibration.from_dict(spec, reference))


def frame_model_file(settings: Settings, model: str, cpu_copies: tuple[str, ...]) -> str:
    """A frame model's file for the provider it will get: on the CPU the first of its copies made for the CPU at
    install time (edge.install.quantize: the INT8 detector, a quarter of the float one's time; the classifier with
    uint8 activations, half its time; or their twins with uint8 weights where this CPU's uint8 x int8 kernels
    saturate) that this CPU reproduces (edge.probe), else and on a GPU the model as converted (TensorRT quantizes
    the float one itself)."""
    from edge.probe import runs_as_vetted
    from edge.runtime import CPU, choose_providers

    if choose_providers(settings.provider)[0] == CPU:
        for name in cpu_copies:
            copy = model_path(settings.models_dir, model, name)
            if runs_as_vetted(copy, file_entry(model, name)["derive"]["probe"], settings.cache_dir):
                return name
    return "model.onnx"


class TextModels:
    """The text encoder and its calibration, the transcriber and the OCR engine, each loaded when first used."""

    def __init__(self, settings: Settings, calibration: dict | None = None):
        self.settings, self._calibration_spec = settings, calibration

    @cached_property
    def encoder(self) -> TextEncoder:
        return load_text_encoder(self.settings)

    @cached_property
    def calibration(self) -> Calibration:
        spec = self._calibration_spec or json.loads(TEXT_CALIBRATION.read_text())
        reference = self.encoder.encode(reference_sentences()) if spec.get("feature", "cosine") != "cosine" else None
        return Calibration.from_dict(spec, reference)

    @cached_property
    def transcriber(self):
        from edge.speech import WhisperTranscriber
        from edge.vad import SileroVad

        store = self.settings.models_dir
        return WhisperTranscriber(
            model_path(store, SPEECH_MODEL, SPEECH_FILE),
            SileroVad(model_path(store, VAD_MODEL, "silero_vad_v6.onnx")),
            threads=self.settings.speech_threads or None,
        )

    @cached_property
    def ocr(self):
        from edge.ocr import OcrEngine

        # Always on the CPU: gated OCR is cheap there, the GPU stays with the visual encoder, and its inputs change
        # shape with every text width (TensorRT would rebuild engines). rgb: the index's samples are RGB. One
        # thread unless EDGE_THREADS says otherwise: detection took 99 CPU-ms on one, 120 on two (95 vs 65 ms wall).
        return OcrEngine.from_store(
            self.settings.models_dir, provider="cpu", threads=self.settings.threads or 1, rgb=True
        )

    def text_reader(self, step: float):
        """A reader of one video's on-screen text, fed the index's samples (`step` seconds apart)."""
        from edge.ocr import TextReader

        return TextReader(self.ocr, step)

    def load(self, sources) -> None:
        """Load the models these sources need now (each is otherwise loaded when first used)."""
        needs = {CONVERSATION: ("encoder", "transcriber"), TEXT_IN_VIDEO: ("encoder", "ocr")}
        for name in dict.fromkeys(n for source in sources for n in needs.get(source, ())):
            getattr(self, name)

    def key(self, source: str) -> str:
        """The store key of a source's segments: the model that read the text and the one that embedded it."""
        if source == CONVERSATION:  # the words depend on the gate in front of Whisper too
            return f"{model_key(SPEECH_MODEL)}+{model_key(VAD_MODEL)}+{SPEECH_PIPELINE}+{self.encoder.key}"
        return f"{model_key(OCR_MODEL)}+{self.encoder.key}"


def reference_sentences() -> list[str]:
    """Ordinary sentences on every kind of topic: a prompt's similarity to them is what "unrelated" looks like."""
    return [
        line.strip() for line in TEXT_REFERENCE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
