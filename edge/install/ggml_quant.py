"""ggml's block quantisation formats (Q8_0, Q5_1) written from numpy, for the whisper.cpp converter.

The arithmetic follows ggml's reference quantisers (quantize_row_q8_0_ref / quantize_row_q5_1_ref) step by
step in float32, rounding included, so the output is deterministic and what whisper.cpp's own `quantize` tool
computes from the same float16 weights. A row of a tensor is cut into blocks of 32 values:
- Q8_0 (34 bytes): float16 scale d = max|x| / 127, then 32 int8 round(x / d).
- Q5_1 (24 bytes): float16 scale d = (max - min) / 31 and float16 min m, a uint32 of the 32 fifth bits,
  then 16 bytes of low nibbles (value j in the low half of byte j, value 16 + j in its high half).
"""

from __future__ import annotations

import numpy as np

BLOCK = 32
# ggml_type ids (a tensor's type in the file) and ggml_ftype ids (the file's hparams.ftype, before the
# quantisation version is added: whisper.cpp stores GGML_QNT_VERSION * 1000 + ftype).
TYPES = {"q8_0": 8, "q5_1": 7}
FTYPES = {"q8_0": 7, "q5_1": 9}
GGML_QNT_VERSION = 2


def _roundf(x: np.ndarray) -> np.ndarray:
    """C's roundf: halves away from zero (numpy's round goes to even)."""
    whole = np.trunc(x)
    return whole + np.where(np.abs(x - whole) >= 0.5, np.sign(x), 0).astype(x.dtype)


def quantize_q8_0(rows: np.ndarray) -> bytes:
    x = np.ascontiguousarray(rows, np.float32).reshape(-1, BLOCK)
    d = (np.abs(x).max(axis=1) / np.float32(127)).astype(np.float32)
    inv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)
    qs = _roundf(x * inv[:, None]).astype(np.int8)
    out = np.empty((x.shape[0], 34), np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = qs.view(np.uint8)
    return out.tobytes()


def quantize_q5_1(rows: np.ndarray) -> bytes:
    x = np.ascontiguousarray(rows, np.float32).reshape(-1, BLOCK)
    low, high = x.min(axis=1), x.max(axis=1)
    d = ((high - low) / np.float32(31)).astype(np.float32)
    inv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)
    q = np.floor(((x - low[:, None]) * inv[:, None]) + np.float32(0.5)).astype(np.uint8)  # (uint8_t)(x0 + 0.5f)
    nibbles = (q[:, :16] & 0x0F) | ((q[:, 16:] & 0x0F) << 4)
    fifth = ((q >> 4) & 1).astype(np.uint32) << np.arange(BLOCK, dtype=np.uint32)
    out = np.empty((x.shape[0], 24), np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = low.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 4:8] = fifth.sum(axis=1, dtype=np.uint32).astype("<u4").view(np.uint8).reshape(-1, 4)
    out[:, 8:] = nibbles
    return out.tobytes()


def dequantize(kind: str, raw: bytes, n: int) -> np.ndarray:
    """The float32 values a quantised buffer stands for (what ggml's dequantize_row_* gives); for checks."""
    if kind == "q8_0":
        b = np.frombuffer(raw, np.uint8).reshape(-1, 34)
        d = b[:, :2].copy().view("<f2").astype(np.float32)
        return (b[:, 2:].view(np.int8).astype(np.float32) * d).reshape(-1)[:n]
    b = np.frombuffer(raw, np.uint8).reshape(-1, 24)
    d, m = (b[:, i : i + 2].copy().view("<f2").astype(np.float32) for i in (0, 2))
    fifth = b[:, 4:8].copy().view("<u4")
    q = np.concatenate([b[:, 8:] & 0x0F, b[:, 8:] >> 4], axis=1).astype(np.uint32)
    q |= ((fifth >> np.arange(BLOCK, dtype=np.uint32)) & 1) << 4
    return (q.astype(np.float32) * d + m).reshape(-1)[:n]


QUANTIZE = {"q8_0": quantize_q8_0, "q5_1": quantize_q5_1}
