"""Convert a CTranslate2 Whisper model (faster-whisper's model.bin) to whisper.cpp's ggml file, with numpy alone.

No package ships a ggml Whisper file, but the CT2 one holds the same float16 weights as OpenAI's checkpoint,
so the ggml file can be rebuilt exactly as whisper.cpp's models/convert-pt-to-ggml.py writes it: hparams,
Slaney mel filters (librosa's), the byte-level BPE tokens as raw bytes, then every tensor under its OpenAI
checkpoint name in checkpoint order. The output is deterministic, so the model store pins its sha256.
The input is memory-mapped and written tensor by tensor: peak memory stays far below the model size.
"""

from __future__ import annotations

import mmap
import re
import struct
from pathlib import Path

import numpy as np

from edge.install.convert import ConversionError
from edge.install.ggml_quant import BLOCK, FTYPES, GGML_QNT_VERSION, QUANTIZE, TYPES

GGML_MAGIC = 0x67676D6C
CT2_VERSION = 6  # the binary layout read below, verified on faster-whisper-base's model.bin
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bf16"}
# The official converter keeps these 2-D tensors in float32 (ggml adds them to f32 activations).
_F32_2D = {"encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding", "decoder.positional_embedding"}


# --- CTranslate2 model.bin --------------------------------------------------------------------------


def read_ct2(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(variables, aliases) of a CT2 model.bin. Arrays are read-only views of a memory map, not copies;
    every alias is also resolved into `variables` (CT2 stores tied weights once, e.g. the output projection)."""
    with open(path, "rb") as fh:
        buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)  # the map outlives the file handle
    pos = 0

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    def string() -> str:
        nonlocal pos
        (n,) = take("H")  # length includes the trailing NUL
        if n == 0 or pos + n > len(buf) or buf[pos + n - 1] != 0:
            raise ConversionError(f"{path}: bad string at byte {pos - 2}")
        pos += n
        return buf[pos - n : pos - 1].decode("utf-8")

    try:
        (version,) = take("I")
        if version != CT2_VERSION:
            raise ConversionError(f"{path}: CTranslate2 binary version {version}, this converter reads {CT2_VERSION}")
        spec = string()
        if spec != "WhisperSpec":
            raise ConversionError(f"{path}: a {spec!r} model, not WhisperSpec")
        take("I")  # spec revision: the variable names below are what matters
        (count,) = take("I")
        variables: dict[str, np.ndarray] = {}
        for _ in range(count):
            name = string()
            (rank,) = take("B")
            dims = take("I" * rank)
            (code,) = take("B")
            (nbytes,) = take("I")
            if code not in _DTYPES or pos + nbytes > len(buf):
                raise ConversionError(f"{path}: variable {name!r} has dtype {code} / {nbytes} bytes past the end")
            raw = np.frombuffer(buf, np.uint8, nbytes, pos)
            pos += nbytes
            if _DTYPES[code] == "bf16":  # numpy has no bfloat16: it is the top half of a float32
                arr = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                arr = raw.view(_DTYPES[code])
            if arr.size != int(np.prod(dims)):
                raise ConversionError(f"{path}: variable {name!r} has {arr.size} values for shape {dims}")
            variables[name] = arr.reshape(dims)
        (n_aliases,) = take("I")  # always present in this version, even when empty
        aliases = {}
        for _ in range(n_aliases):
            alias, target = string(), string()
            aliases[alias] = target
    except struct.error as exc:
        raise ConversionError(f"{path}: truncated CTranslate2 file ({exc})") from None
    if pos != len(buf):
        raise ConversionError(f"{path}: {len(buf) - pos} unexpected bytes after the alias table")
    for alias, target in aliases.items():
        if target not in variables:
            raise ConversionError(f"{path}: alias {alias!r} names missing variable {target!r}")
        variables[alias] = variables[target]
    return variables, aliases


# --- mel filters: librosa.filters.mel(sr, n_fft, n_mels), Slaney scale and norm -----------------------


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (200/3 Hz per mel) below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / logstep, hz * 3.0 / 200.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(logstep * (mel - 15.0)), mel * 200.0 / 3.0)


def mel_filters(sr: int = 16000, n_fft: int = 400, n_mels: int = 80) -> np.ndarray:
    """(n_mels, 1 + n_fft//2) float32 triangles, area-normalised (Slaney), computed as librosa does, rounding
    included (float32 rows, then the float64 norm applied in place): Whisper's mel_filters.npz came from it."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    weights = np.zeros((n_mels, len(fft_hz)), dtype=np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights


# --- tokenizer ----------------------------------------------------------------------------------------


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE shows each byte as a printable character; this maps them back to bytes."""
    shown = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in shown}
    for extra, b in enumerate(b for b in range(256) if b not in chars):
        chars[b] = chr(256 + extra)
    return {c: b for b, c in chars.items()}


def bpe_tokens(vocabulary: Path) -> list[bytes]:
    """Raw bytes of the BPE tokens: CT2's vocabulary.txt up to <|endoftext|>. The special tokens after it are
    not written: whisper.cpp derives them from n_vocab (as the official tiktoken-based conversion does)."""
    # split("\n"), not splitlines(): a token must never be cut at some other Unicode line break.
    lines = Path(vocabulary).read_text(encoding="utf-8").split("\n")
    if "<|endoftext|>" not in lines:
        raise ConversionError(f"{vocabulary}: no <|endoftext|>; not a Whisper vocabulary")
    decode = _byte_decoder()
    try:
        return [bytes(decode[c] for c in token) for token in lines[: lines.index("<|endoftext|>")]]
    except KeyError as exc:
        raise ConversionError(f"{vocabulary}: {exc} is not a byte-level BPE character") from None


# --- tensors ------------------------------------------------------------------------------------------


def _layers(variables: dict, stack: str) -> int:
    return len({m.group(1) for name in variables if (m := re.match(rf"{stack}/layer_(\d+)/", name))})


def _split_fused(w: np.ndarray, b: np.ndarray | None, parts: list[str], n: int, prefix: str):
    """CT2 fuses q/k/v (or k/v) into one linear; OpenAI's key has no bias, so its CT2 slot must be zero."""
    for i, part in enumerate(parts):
        yield f"{prefix}.{part}.weight", w[i * n : (i + 1) * n]
        if part == "key":
            if b is not None and np.any(b[i * n : (i + 1) * n]):
                raise ConversionError(f"{prefix}.key has a bias; whisper.cpp has no place for it")
        elif b is not None:
            yield f"{prefix}.{part}.bias", b[i * n : (i + 1) * n]


def _linear(v: dict, ct2: str, name: str):
    yield f"{name}.weight", v[f"{ct2}/weight"]
    yield f"{name}.bias", v[f"{ct2}/bias"]


def _norm(v: dict, ct2: str, name: str):
    yield f"{name}.weight", v[f"{ct2}/gamma"]
    yield f"{name}.bias", v[f"{ct2}/beta"]


def openai_tensors(v: dict[str, np.ndarray]):
    """(OpenAI checkpoint name, array) in the checkpoint's state_dict order, from CT2's WhisperSpec names."""
    n = v["encoder/conv1/weight"].shape[0]
    yield "encoder.positional_embedding", v["encoder/position_encodings/encodings"]
    for conv in ("conv1", "conv2"):
        yield from _linear(v, f"encoder/{conv}", f"encoder.{conv}")
    for i in range(_layers(v, "encoder")):
        ct2, oa = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        yield from _self_attention(v, ct2, oa, n)
        yield from _ffn(v, ct2, oa)
    yield from _norm(v, "encoder/layer_norm", "encoder.ln_post")

    m = v["decoder/embeddings/weight"].shape[1]
    yield "decoder.positional_embedding", v["decoder/position_encodings/encodings"]
    yield "decoder.token_embedding.weight", v["decoder/embeddings/weight"]
    for i in range(_layers(v, "decoder")):
        ct2, oa = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        yield from _self_attention(v, ct2, oa, m)
        yield from _linear(v, f"{ct2}/attention/linear_0", f"{oa}.cross_attn.query")
        yield from _split_fused(
            v[f"{ct2}/attention/linear_1/weight"],
            v.get(f"{ct2}/attention/linear_1/bias"),
            ["key", "value"],
            m,
            f"{oa}.cross_attn",
        )
        yield from _linear(v, f"{ct2}/attention/linear_2", f"{oa}.cross_attn.out")
        yield from _norm(v, f"{ct2}/attention/layer_norm", f"{oa}.cross_attn_ln")
        yield from _ffn(v, ct2, oa)
    yield from _norm(v, "decoder/layer_norm", "decoder.ln")


def _self_attention(v: dict, ct2: str, oa: str, state: int):
    yield from _split_fused(
        v[f"{ct2}/self_attention/linear_0/weight"],
        v.get(f"{ct2}/self_attention/linear_0/bias"),
        ["query", "key", "value"],
        state,
        f"{oa}.attn",
    )
    yield from _linear(v, f"{ct2}/self_attention/linear_1", f"{oa}.attn.out")
    yield from _norm(v, f"{ct2}/self_attention/layer_norm", f"{oa}.attn_ln")


def _ffn(v: dict, ct2: str, oa: str):
    yield from _linear(v, f"{ct2}/ffn/linear_0", f"{oa}.mlp.0")
    yield from _linear(v, f"{ct2}/ffn/linear_1", f"{oa}.mlp.2")
    yield from _norm(v, f"{ct2}/ffn/layer_norm", f"{oa}.mlp_ln")


def hparams(v: dict[str, np.ndarray]) -> dict[str, int]:
    def heads(stack: str) -> int:
        if f"{stack}/num_heads" not in v:
            raise ConversionError(f"no {stack}/num_heads in the model")
        return int(v[f"{stack}/num_heads"])

    return {
        "n_vocab": v["decoder/embeddings/weight"].shape[0],
        "n_audio_ctx": v["encoder/position_encodings/encodings"].shape[0],
        "n_audio_state": v["encoder/conv1/weight"].shape[0],
        "n_audio_head": heads("encoder"),
        "n_audio_layer": _layers(v, "encoder"),
        "n_text_ctx": v["decoder/position_encodings/encodings"].shape[0],
        "n_text_state": v["decoder/embeddings/weight"].shape[1],
        "n_text_head": heads("decoder"),
        "n_text_layer": _layers(v, "decoder"),
        "n_mels": v["encoder/conv1/weight"].shape[1],
        "ftype": 1,
    }


# --- ggml output --------------------------------------------------------------------------------------


def convert_ct2(model_bin: Path, vocabulary: Path, out: Path, quant: str | None = None) -> None:
    """Write whisper.cpp's ggml (f16) file for a CT2 Whisper model, as convert-pt-to-ggml.py would; with `quant`
    ("q8_0", "q5_1") the 2-D weights are block-quantised as whisper.cpp's `quantize` tool writes them (the
    float32 tensors and the 3-D convolution kernels stay as they are: whisper.cpp expects them so)."""
    v, _ = read_ct2(model_bin)
    proj = v.get("decoder/projection/weight")
    if (
        proj is not None
        and proj is not v["decoder/embeddings/weight"]
        and not np.array_equal(proj, v["decoder/embeddings/weight"])
    ):
        raise ConversionError("decoder projection is not tied to the token embedding; whisper.cpp ties them")
    try:
        hp = hparams(v)
        if quant:
            hp["ftype"] = GGML_QNT_VERSION * 1000 + FTYPES[quant]
        tensors = list(openai_tensors(v))  # names and views only: nothing is copied yet
    except KeyError as exc:
        raise ConversionError(f"{model_bin}: no variable {exc}; not a Whisper model") from None
    tokens = bpe_tokens(vocabulary)
    with open(out, "wb") as fh:
        fh.write(struct.pack("<12i", GGML_MAGIC, *hp.values()))
        filters = mel_filters(n_mels=hp["n_mels"])
        fh.write(struct.pack("<2i", *filters.shape))
        fh.write(filters.astype("<f4").tobytes())
        fh.write(struct.pack("<i", len(tokens)))
        for token in tokens:
            fh.write(struct.pack("<i", len(token)) + token)
        for name, data in tensors:
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                data = data.reshape(-1, 1)  # ggml adds it to a [time, channels] tensor
            f16 = data.ndim >= 2 and name not in _F32_2D
            quantised = quant and f16 and data.ndim == 2
            if quantised and data.shape[1] % BLOCK:
                raise ConversionError(f"{name}: rows of {data.shape[1]} values do not split into blocks of {BLOCK}")
            kind = TYPES[quant] if quantised else int(f16)
            encoded = name.encode()
            fh.write(struct.pack(f"<3i{data.ndim}i", data.ndim, len(encoded), kind, *data.shape[::-1]))
            fh.write(encoded)
            if quantised:  # from the float16 weights, as whisper.cpp's quantize reads them; in slices of rows
                fh.writelines(
                    QUANTIZE[quant](np.asarray(data[row : row + 4096], np.float16))
                    for row in range(0, data.shape[0], 4096)
                )
            else:
                fh.write(memoryview(np.ascontiguousarray(data, dtype="<f2" if f16 else "<f4")).cast("B"))


def convert(inputs: dict[str, Path], out: Path) -> None:
    """The model store's entry point: named, already verified inputs in, the ggml file out."""
    convert_ct2(inputs["model.bin"], inputs["vocabulary.txt"], out)


def convert_q8_0(inputs: dict[str, Path], out: Path) -> None:
    """As `convert`, with the weight matrices in Q8_0 (8-bit blocks)."""
    convert_ct2(inputs["model.bin"], inputs["vocabulary.txt"], out, quant="q8_0")


def convert_q5_1(inputs: dict[str, Path], out: Path) -> None:
    """As `convert`, with the weight matrices in Q5_1 (5-bit blocks with a minimum)."""
    convert_ct2(inputs["model.bin"], inputs["vocabulary.txt"], out, quant="q5_1")
