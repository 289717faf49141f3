"""ggml block quantisation written from numpy (edge.install.ggml_quant) and the Q8_0 Whisper file in the store."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from test_whisper_ggml import build_tiny, expected_names, tiny_variables

from edge.install.ggml_quant import dequantize, quantize_q5_1, quantize_q8_0
from edge.install.whisper_ggml import ConversionError, convert_ct2


def test_q8_0_block_layout_and_c_rounding():
    x = np.zeros(32, np.float32)
    x[:5] = [127.0, 2.5, -2.5, 0.5, -126.4]  # scale 1: halves round away from zero, as C's roundf
    raw = quantize_q8_0(x)
    assert len(raw) == 34
    assert np.frombuffer(raw[:2], "<f2")[0] == 1.0
    assert list(np.frombuffer(raw[2:7], np.int8)) == [127, 3, -3, 1, -126]
    assert quantize_q8_0(np.zeros(32, np.float32)) == bytes(34)  # an all-zero block: scale 0, no division


def test_q5_1_block_layout_low_nibbles_and_fifth_bits():
    x = np.arange(32, dtype=np.float32)[::-1].copy()  # 31 .. 0: min 0, scale 1, every code once
    raw = quantize_q5_1(x)
    assert len(raw) == 24
    d, m = np.frombuffer(raw[:4], "<f2")
    (fifth,) = struct.unpack("<I", raw[4:8])
    q = x.astype(int)
    assert (d, m) == (1.0, 0.0)
    assert fifth == sum(((v >> 4) & 1) << j for j, v in enumerate(q))
    assert list(raw[8:]) == [(q[j] & 15) | ((q[16 + j] & 15) << 4) for j in range(16)]
    np.testing.assert_array_equal(dequantize("q5_1", raw, 32), x)


@pytest.mark.parametrize("kind, quantize, levels", [("q8_0", quantize_q8_0, 127), ("q5_1", quantize_q5_1, 31)])
def test_round_trip_error_is_within_half_a_step(kind, quantize, levels):
    x = np.random.default_rng(0).standard_normal((64, 96)).astype(np.float16).astype(np.float32)
    back = dequantize(kind, quantize(x), x.size).reshape(x.shape)
    blocks, back_blocks = x.reshape(-1, 32), back.reshape(-1, 32)
    span = np.abs(blocks).max(1) if kind == "q8_0" else np.ptp(blocks, axis=1)
    step = span / levels
    assert np.all(np.abs(blocks - back_blocks) <= step[:, None] * 0.5 + 1e-3 * span[:, None])
    assert quantize(x) == quantize(x.copy())  # deterministic


def test_rows_that_do_not_split_into_blocks_are_refused(tmp_path):
    model, vocab = build_tiny(tmp_path, tiny_variables())  # 8 values a row
    with pytest.raises(ConversionError, match="blocks of 32"):
        convert_ct2(model, vocab, tmp_path / "out.bin", quant="q8_0")


def test_store_q8_0_file_has_whisper_cpps_quantised_layout(models_dir):
    from edge.bundles import SPEECH_MODEL
    from edge.modelfiles import model_path

    path = model_path(models_dir, SPEECH_MODEL, "ggml-base-q8_0.bin")  # sha256-verified
    assert path.stat().st_size == 81_768_585
    types = {}
    with open(path, "rb") as fh:
        hp = struct.unpack("<12i", fh.read(48))
        rows, cols = struct.unpack("<2i", fh.read(8))
        fh.seek(4 * rows * cols, 1)
        (n_tokens,) = struct.unpack("<i", fh.read(4))
        for _ in range(n_tokens):
            fh.seek(struct.unpack("<i", fh.read(4))[0], 1)
        while header := fh.read(12):
            n_dims, name_len, kind = struct.unpack("<3i", header)
            dims = struct.unpack(f"<{n_dims}i", fh.read(4 * n_dims))
            name = fh.read(name_len).decode()
            n = int(np.prod(dims))
            fh.seek({0: 4 * n, 1: 2 * n, 8: n // 32 * 34}[kind], 1)
            types[name] = (kind, n_dims)
    assert hp[-1] == 2007  # GGML_QNT_VERSION 2 * 1000 + GGML_FTYPE_MOSTLY_Q8_0
    assert list(types) == expected_names(6, 6)
    for name, (kind, n_dims) in types.items():
        if n_dims == 3:
            assert kind == 1, name  # convolution kernels stay float16
        elif n_dims == 2 and "positional" not in name and "conv" not in name:
            assert kind == 8, name
        else:
            assert kind == 0, name
