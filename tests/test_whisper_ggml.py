"""CTranslate2 Whisper -> whisper.cpp ggml conversion (edge.install.whisper_ggml).

Synthetic tests write a tiny CT2 model.bin and read the ggml output back with a parser of their own. The last
test runs the real converted file from the model store in whisper.cpp (pywhispercpp) on espeak-ng speech.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from edge.install.whisper_ggml import ConversionError, bpe_tokens, convert_ct2, mel_filters, read_ct2

# --- a tiny CTranslate2 WhisperSpec model ---------------------------------------------------------------

N_STATE, N_HEADS, ENC_LAYERS, DEC_LAYERS, N_MELS, AUDIO_CTX, TEXT_CTX = 8, 2, 1, 2, 80, 6, 5
# GPT-2 byte-level spellings: "Ġ" is the space byte, "Ċ" newline, "Ã©" the two UTF-8 bytes of "é", "Ã" a lone 0xC3.
BPE = ["!", "Ġthe", "Ċ", "Ã©", "Ã"]
BPE_BYTES = [b"!", b" the", b"\n", "é".encode(), b"\xc3"]
SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
N_VOCAB = len(BPE) + len(SPECIALS)
_CODES = {
    np.dtype(np.float32): 0,
    np.dtype(np.int8): 1,
    np.dtype(np.int16): 2,
    np.dtype(np.int32): 3,
    np.dtype(np.float16): 4,
}


class BF16(np.ndarray):
    """Marks a float32 array the test writer must store as bfloat16 (CT2 dtype 5)."""


def _string(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_ct2(
    path: Path, variables: dict, aliases: dict | None = None, version: int = 6, spec: str = "WhisperSpec"
) -> Path:
    """The CT2 binary layout: header, variables (name, rank, dims, dtype, byte count, data), alias table."""
    out = [struct.pack("<I", version), _string(spec), struct.pack("<II", 3, len(variables))]
    for name, arr in variables.items():
        if isinstance(arr, BF16):
            code, data = 5, (np.asarray(arr, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            code, data = _CODES[arr.dtype], np.ascontiguousarray(arr).tobytes()
        out += [
            _string(name),
            struct.pack(f"<B{arr.ndim}I", arr.ndim, *arr.shape),
            struct.pack("<BI", code, len(data)),
            data,
        ]
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    out += [_string(a) + _string(t) for a, t in aliases.items()]
    path.write_bytes(b"".join(out))
    return path


def tiny_variables(seed: int = 0) -> dict[str, np.ndarray]:
    """Every variable CT2's WhisperSpec has, at toy size; most float16 like faster-whisper, some float32 / bf16."""
    rng = np.random.default_rng(seed)
    n = N_STATE

    def f16(*shape):
        return rng.standard_normal(shape).astype(np.float16)

    def linear(prefix, rows, cols, dtype=np.float16, key_rows=None):
        bias = rng.standard_normal(rows).astype(dtype)
        if key_rows is not None:
            bias[key_rows] = 0  # CT2 fills the bias-less key projection's slot with zeros
        return {f"{prefix}/weight": rng.standard_normal((rows, cols)).astype(dtype), f"{prefix}/bias": bias}

    def norm(prefix):
        return {f"{prefix}/gamma": f16(n), f"{prefix}/beta": f16(n)}

    v = {
        "decoder/activation": np.array(1, np.int8),
        "decoder/alignment_heads": np.array(3, np.int16),
        "decoder/embeddings/weight": f16(N_VOCAB, n),
    }
    for i in range(DEC_LAYERS):
        p = f"decoder/layer_{i}"
        v.update(norm(f"{p}/attention/layer_norm"))
        v.update(linear(f"{p}/attention/linear_0", n, n))
        v.update(linear(f"{p}/attention/linear_1", 2 * n, n, key_rows=slice(0, n)))
        v.update(linear(f"{p}/attention/linear_2", n, n))
        v.update(norm(f"{p}/ffn/layer_norm"))
        v.update(linear(f"{p}/ffn/linear_0", 4 * n, n))
        v.update(linear(f"{p}/ffn/linear_1", n, 4 * n))
        v.update(norm(f"{p}/self_attention/layer_norm"))
        v.update(linear(f"{p}/self_attention/linear_0", 3 * n, n, key_rows=slice(n, 2 * n)))
        v.update(linear(f"{p}/self_attention/linear_1", n, n))
    v["decoder/layer_norm/beta"] = f16(n)
    # bfloat16 keeps 8 mantissa bits: these values are exact in it, so the round trip can be checked exactly
    v["decoder/layer_norm/gamma"] = np.array([0.5, -1.25, 2.0, 3.5, -0.125, 1.0, 0.75, -2.5], np.float32).view(BF16)
    v["decoder/num_heads"] = np.array(N_HEADS, np.int16)
    v["decoder/position_encodings/encodings"] = f16(TEXT_CTX, n)
    v.update(linear("encoder/conv1", n, 1))  # reshaped below: conv weights are 3-D
    v["encoder/conv1/weight"] = f16(n, N_MELS, 3)
    v.update(linear("encoder/conv2", n, 1))
    v["encoder/conv2/weight"] = f16(n, n, 3)
    for i in range(ENC_LAYERS):
        p = f"encoder/layer_{i}"
        v.update(norm(f"{p}/ffn/layer_norm"))
        v.update(linear(f"{p}/ffn/linear_0", 4 * n, n, dtype=np.float32))  # float32 in, float16 out
        v.update(linear(f"{p}/ffn/linear_1", n, 4 * n))
        v.update(norm(f"{p}/self_attention/layer_norm"))
        v.update(linear(f"{p}/self_attention/linear_0", 3 * n, n, key_rows=slice(n, 2 * n)))
        v.update(linear(f"{p}/self_attention/linear_1", n, n))
    v.update(norm("encoder/layer_norm"))
    v["encoder/num_heads"] = np.array(N_HEADS, np.int16)
    v["encoder/position_encodings/encodings"] = f16(AUDIO_CTX, n)
    return v


TIED = {"decoder/projection/weight": "decoder/embeddings/weight"}


def write_vocabulary(path: Path) -> Path:
    timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(N_VOCAB - len(BPE) - len(SPECIALS))]
    path.write_text("\n".join(BPE + SPECIALS + timestamps), encoding="utf-8")
    return path


def build_tiny(tmp: Path, variables: dict | None = None, aliases: dict | None = TIED) -> tuple[Path, Path]:
    return (
        write_ct2(tmp / "model.bin", tiny_variables() if variables is None else variables, aliases),
        write_vocabulary(tmp / "vocabulary.txt"),
    )


# --- an independent reader of the ggml file ---------------------------------------------------------------

HPARAMS = [
    "n_vocab",
    "n_audio_ctx",
    "n_audio_state",
    "n_audio_head",
    "n_audio_layer",
    "n_text_ctx",
    "n_text_state",
    "n_text_head",
    "n_text_layer",
    "n_mels",
    "ftype",
]


def read_ggml(path: Path, data: bool = True) -> dict:
    """magic, hparams, mel filters, tokens and tensors {name: (ftype, ggml dims, array in numpy order)}."""
    with open(path, "rb") as fh:

        def ints(k):
            return struct.unpack(f"<{k}i", fh.read(4 * k))

        magic, *hp = ints(12)
        rows, cols = ints(2)
        filters = np.frombuffer(fh.read(4 * rows * cols), "<f4").reshape(rows, cols)
        (n_tokens,) = ints(1)
        tokens = [fh.read(ints(1)[0]) for _ in range(n_tokens)]
        tensors = {}
        while header := fh.read(12):
            n_dims, name_len, ftype = struct.unpack("<3i", header)
            dims = ints(n_dims)
            name = fh.read(name_len).decode()
            size = int(np.prod(dims)) * (2 if ftype == 1 else 4)
            if data:
                arr = np.frombuffer(fh.read(size), "<f2" if ftype == 1 else "<f4").reshape(dims[::-1])
            else:
                fh.seek(size, 1)
                arr = None
            tensors[name] = (ftype, dims, arr)
    return {"magic": magic, "hparams": dict(zip(HPARAMS, hp)), "filters": filters, "tokens": tokens, "tensors": tensors}


def expected_names(enc_layers: int, dec_layers: int) -> list[str]:
    """OpenAI checkpoint names in state_dict order, written out by hand."""
    attn = ["query.weight", "query.bias", "key.weight", "value.weight", "value.bias", "out.weight", "out.bias"]
    tail = ["mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias", "mlp_ln.weight", "mlp_ln.bias"]
    names = [
        "encoder.positional_embedding",
        "encoder.conv1.weight",
        "encoder.conv1.bias",
        "encoder.conv2.weight",
        "encoder.conv2.bias",
    ]
    for i in range(enc_layers):
        b = f"encoder.blocks.{i}"
        names += (
            [f"{b}.attn.{a}" for a in attn] + [f"{b}.attn_ln.weight", f"{b}.attn_ln.bias"] + [f"{b}.{t}" for t in tail]
        )
    names += [
        "encoder.ln_post.weight",
        "encoder.ln_post.bias",
        "decoder.positional_embedding",
        "decoder.token_embedding.weight",
    ]
    for i in range(dec_layers):
        b = f"decoder.blocks.{i}"
        names += [f"{b}.attn.{a}" for a in attn] + [f"{b}.attn_ln.weight", f"{b}.attn_ln.bias"]
        names += [f"{b}.cross_attn.{a}" for a in attn] + [f"{b}.cross_attn_ln.weight", f"{b}.cross_attn_ln.bias"]
        names += [f"{b}.{t}" for t in tail]
    return names + ["decoder.ln.weight", "decoder.ln.bias"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny-whisper")
    model, vocab = build_tiny(tmp)
    convert_ct2(model, vocab, tmp / "ggml.bin")
    return tiny_variables(), read_ggml(tmp / "ggml.bin"), tmp / "ggml.bin"


# --- the converter ------------------------------------------------------------------------------------


def test_header_and_hparams(tiny):
    _, g, _ = tiny
    assert g["magic"] == 0x67676D6C
    assert g["hparams"] == {
        "n_vocab": N_VOCAB,
        "n_audio_ctx": AUDIO_CTX,
        "n_audio_state": N_STATE,
        "n_audio_head": N_HEADS,
        "n_audio_layer": ENC_LAYERS,
        "n_text_ctx": TEXT_CTX,
        "n_text_state": N_STATE,
        "n_text_head": N_HEADS,
        "n_text_layer": DEC_LAYERS,
        "n_mels": N_MELS,
        "ftype": 1,
    }
    assert g["filters"].shape == (N_MELS, 201) and np.array_equal(g["filters"], mel_filters())


def test_tokens_are_raw_bytes_without_specials(tiny):
    _, g, _ = tiny
    assert g["tokens"] == BPE_BYTES  # byte-level characters mapped back; "é" as its two UTF-8 bytes


def test_tensor_names_order_shapes_and_dtypes(tiny):
    v, g, _ = tiny
    t = g["tensors"]
    assert list(t) == expected_names(ENC_LAYERS, DEC_LAYERS)  # no key bias, no separate output projection
    n = N_STATE
    # ggml lists dims fastest-first: the numpy shape reversed
    assert t["encoder.conv1.weight"][:2] == (1, (3, N_MELS, n))
    assert t["encoder.conv1.bias"][:2] == (0, (1, n))  # [n] -> [n, 1], float32, as whisper.cpp's converter does
    assert t["encoder.positional_embedding"][:2] == (0, (n, AUDIO_CTX))
    assert t["decoder.positional_embedding"][:2] == (0, (n, TEXT_CTX))
    assert t["decoder.token_embedding.weight"][:2] == (1, (n, N_VOCAB))
    assert t["encoder.blocks.0.mlp.0.weight"][:2] == (1, (n, 4 * n))
    assert t["decoder.blocks.1.cross_attn.value.weight"][:2] == (1, (n, n))
    for name, (ftype, dims, arr) in t.items():
        assert arr.shape == dims[::-1]
        if len(dims) == 1:
            assert ftype == 0, name
        elif not name.endswith(("positional_embedding", "conv1.bias", "conv2.bias")):
            assert ftype == 1, name


def test_tensor_values_come_from_the_right_ct2_slices(tiny):
    v, g, _ = tiny
    t = {name: arr for name, (_, _, arr) in g["tensors"].items()}
    n = N_STATE
    qkv = v["decoder/layer_1/self_attention/linear_0/weight"]
    for i, part in enumerate(["query", "key", "value"]):
        assert np.array_equal(t[f"decoder.blocks.1.attn.{part}.weight"], qkv[i * n : (i + 1) * n])
    bias = v["encoder/layer_0/self_attention/linear_0/bias"]
    assert np.array_equal(t["encoder.blocks.0.attn.query.bias"], bias[:n].astype(np.float32))
    assert np.array_equal(t["encoder.blocks.0.attn.value.bias"], bias[2 * n :].astype(np.float32))
    kv = v["decoder/layer_0/attention/linear_1/weight"]
    assert np.array_equal(t["decoder.blocks.0.cross_attn.key.weight"], kv[:n])
    assert np.array_equal(t["decoder.blocks.0.cross_attn.value.weight"], kv[n:])
    assert np.array_equal(t["decoder.blocks.0.cross_attn.value.bias"], v["decoder/layer_0/attention/linear_1/bias"][n:])
    assert np.array_equal(t["decoder.blocks.0.cross_attn.query.weight"], v["decoder/layer_0/attention/linear_0/weight"])
    assert np.array_equal(
        t["encoder.blocks.0.mlp.0.weight"], v["encoder/layer_0/ffn/linear_0/weight"].astype(np.float16)
    )
    assert np.array_equal(t["encoder.blocks.0.mlp_ln.weight"], v["encoder/layer_0/ffn/layer_norm/gamma"])
    assert np.array_equal(t["encoder.ln_post.bias"], v["encoder/layer_norm/beta"])
    assert np.array_equal(t["decoder.ln.weight"], [0.5, -1.25, 2.0, 3.5, -0.125, 1.0, 0.75, -2.5])  # from bfloat16
    assert np.array_equal(t["encoder.conv1.bias"][:, 0], v["encoder/conv1/bias"])
    assert np.array_equal(t["encoder.conv2.weight"], v["encoder/conv2/weight"])
    assert np.array_equal(t["decoder.token_embedding.weight"], v["decoder/embeddings/weight"])
    assert np.array_equal(t["encoder.positional_embedding"], v["encoder/position_encodings/encodings"])


def test_aliases_are_read_and_resolved(tmp_path):
    model, _ = build_tiny(tmp_path)
    variables, aliases = read_ct2(model)
    assert aliases == TIED
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]
    assert variables["decoder/num_heads"].shape == () and int(variables["decoder/num_heads"]) == N_HEADS
    assert not variables["decoder/embeddings/weight"].flags.writeable  # a view of the map, not a copy


def test_conversion_is_deterministic_and_a_tied_copy_is_accepted(tmp_path, tiny):
    _, _, first = tiny
    v = tiny_variables()
    v["decoder/projection/weight"] = v["decoder/embeddings/weight"].copy()  # stored twice instead of aliased
    model, vocab = build_tiny(tmp_path, v, aliases={})
    convert_ct2(model, vocab, tmp_path / "again.bin")
    assert (tmp_path / "again.bin").read_bytes() == first.read_bytes()


@pytest.mark.parametrize(
    "case, message",
    [
        ("untied projection", "not tied"),
        ("key bias", "key has a bias"),
        ("no heads", "num_heads"),
        ("no decoder", "no variable"),
    ],
)
def test_models_whisper_cpp_cannot_represent_are_refused(tmp_path, case, message):
    v = tiny_variables()
    if case == "untied projection":
        v["decoder/projection/weight"] = -v["decoder/embeddings/weight"]
    elif case == "key bias":
        v["encoder/layer_0/self_attention/linear_0/bias"][N_STATE] = 1
    elif case == "no heads":
        del v["decoder/num_heads"]
    else:
        del v["decoder/embeddings/weight"]
    model, vocab = build_tiny(tmp_path, v, aliases=TIED if case in ("key bias", "no heads") else {})
    with pytest.raises(ConversionError, match=message):
        convert_ct2(model, vocab, tmp_path / "out.bin")


def test_malformed_ct2_files_are_refused(tmp_path):
    with pytest.raises(ConversionError, match="binary version 5"):
        read_ct2(write_ct2(tmp_path / "old.bin", {"x": np.zeros(2, np.float32)}, version=5))
    with pytest.raises(ConversionError, match="not WhisperSpec"):
        read_ct2(write_ct2(tmp_path / "t.bin", {"x": np.zeros(2, np.float32)}, spec="TransformerSpec"))
    good = write_ct2(tmp_path / "good.bin", {"x": np.zeros(4, np.float32)}, {"y": "x"})
    raw = good.read_bytes()
    for cut in (3, 12, 20):  # inside the alias table, the whole table, inside the data
        (tmp_path / "cut.bin").write_bytes(raw[:-cut])
        with pytest.raises(ConversionError, match="truncated|past the end|bad string"):
            read_ct2(tmp_path / "cut.bin")
    (tmp_path / "extra.bin").write_bytes(raw + b"\0\0")
    with pytest.raises(ConversionError, match="unexpected bytes"):
        read_ct2(tmp_path / "extra.bin")
    with pytest.raises(ConversionError, match="missing variable"):
        read_ct2(write_ct2(tmp_path / "dangling.bin", {"x": np.zeros(2, np.float32)}, {"y": "nope"}))


def test_vocabulary_without_endoftext_is_refused(tmp_path):
    (tmp_path / "v.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ConversionError, match="endoftext"):
        bpe_tokens(tmp_path / "v.txt")


# --- mel filters ----------------------------------------------------------------------------------------


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Slaney: 200/3 Hz per mel up to 1 kHz (mel 15), then a factor 6.4 every 27 mels."""
    return np.where(mel < 15, mel * 200 / 3, 1000 * 6.4 ** ((mel - 15) / 27))


def test_mel_filters_are_slaney_triangles():
    f = mel_filters(sr=16000, n_fft=400, n_mels=80)
    assert f.shape == (80, 201) and f.dtype == np.float32 and (f >= 0).all()
    top_mel = 15 + 27 * np.log(8000 / 1000) / np.log(6.4)  # 8 kHz (Nyquist) on the mel scale
    edges = _slaney_mel_to_hz(np.linspace(0, top_mel, 82))
    bins = np.arange(201) * 40.0  # 16 kHz / 400-point FFT
    for i, row in enumerate(f):
        support = np.flatnonzero(row)
        assert (np.diff(support) == 1).all(), f"filter {i} is not one contiguous band"
        assert edges[i] < bins[support[0]] and bins[support[-1]] < edges[i + 2]
        peak = int(np.argmax(row))
        assert peak in (np.floor(edges[i + 1] / 40), np.ceil(edges[i + 1] / 40)), f"filter {i} peaks at {peak * 40} Hz"
        rise, fall = np.diff(row[support[0] : peak + 1]), np.diff(row[peak : support[-1] + 1])
        assert (rise >= 0).all() and (fall <= 0).all(), f"filter {i} is not triangular"
        # Slaney norm: unit area in Hz, i.e. peak height 2 / (upper edge - lower edge)
        assert row.max() <= 2 / (edges[i + 2] - edges[i]) * (1 + 1e-6)
        assert abs(row.sum() * 40 - 1) < 0.1, f"filter {i} area {row.sum() * 40}"
    assert np.flatnonzero(f[0]).tolist() == [1] and int(np.argmax(f[79])) * 40 == 7680
    # Bit-identical to OpenAI's whisper/assets/mel_filters.npz["mel_80"] (librosa), which the official
    # converter writes: sha256 of its float32 little-endian bytes.
    assert (
        hashlib.sha256(f.astype("<f4").tobytes()).hexdigest()
        == "4f2701b1d287d74a0dc9871026e9519d98cb76426615f2539b0d151a0ae4ec2e"
    )


# --- the real file in the model store, run by whisper.cpp -----------------------------------------------

BASE_SIZE = 147_951_465  # bytes of the official ggml-base.bin
SENTENCE = "Please open the kitchen window and turn off the lights before dinner."


@pytest.fixture(scope="module")
def store_ggml(models_dir) -> Path:
    from edge.modelfiles import model_path

    return model_path(models_dir, "speech-whisper-base", "ggml-base.bin")  # sha256-verified


def test_store_file_has_the_official_layout(store_ggml):
    assert store_ggml.stat().st_size == BASE_SIZE
    g = read_ggml(store_ggml, data=False)
    assert g["hparams"] == {
        "n_vocab": 51865,
        "n_audio_ctx": 1500,
        "n_audio_state": 512,
        "n_audio_head": 8,
        "n_audio_layer": 6,
        "n_text_ctx": 448,
        "n_text_state": 512,
        "n_text_head": 8,
        "n_text_layer": 6,
        "n_mels": 80,
        "ftype": 1,
    }
    assert len(g["tokens"]) == 50257 and g["tokens"][:2] == [b"!", b'"'] and g["tokens"][264] == b" the"
    assert list(g["tensors"]) == expected_names(6, 6)


def test_whisper_cpp_transcribes_speech_with_dtw_word_times(store_ggml):
    import _pywhispercpp as pw
    from pywhispercpp.model import Model
    from speech_media import speak

    audio = speak(SENTENCE)
    model = Model(
        str(store_ggml),
        redirect_whispercpp_logs_to=None,
        n_threads=2,
        language="en",
        print_progress=False,
        context_params={
            "flash_attn": False,
            "dtw_token_timestamps": True,  # DTW needs it off
            "dtw_aheads_preset": pw.whisper_alignment_heads_preset.WHISPER_AHEADS_BASE,
        },
    )
    segments = model.transcribe(audio)
    words = re.findall(r"[a-z]+", " ".join(s.text for s in segments).lower())
    expected = re.findall(r"[a-z]+", SENTENCE.lower())
    assert sum(w in words for w in expected) >= 0.8 * len(expected), words
    # DTW token times (10 ms units): present, in order, inside the audio
    eot = pw.whisper_token_eot(model._ctx)
    times = [
        pw.whisper_full_get_token_data(model._ctx, i, j).t_dtw
        for i in range(pw.whisper_full_n_segments(model._ctx))
        for j in range(pw.whisper_full_n_tokens(model._ctx, i))
        if pw.whisper_full_get_token_id(model._ctx, i, j) < eot
    ]
    assert len(times) >= len(expected) and min(times) >= 0
    assert times == sorted(times) and max(times) <= len(audio) / 160 + 10
