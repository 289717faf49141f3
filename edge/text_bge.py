"""bge-small-en (int8 ONNX) as a TextEncoder: CLS vector, L2-normalised."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from edge.encoders import l2_normalise
from edge.runtime import open_session

_MAX_TOKENS = 128  # prompts, labels and transcript windows are short; attention cost grows with length
_BATCH = 32


class BgeTextEncoder:
    dim = 384

    def __init__(self, model_path: Path, tokenizer_path: Path, key: str, provider: str | None = None, threads: int = 0):
        self.key = key
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._session = open_session(model_path, provider, threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # Batches of similar length waste little on padding; results go back to the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), np.float32)
        for start in range(0, len(order), _BATCH):
            chosen = order[start : start + _BATCH]
            batch = self._tokenizer.encode_batch([texts[i] for i in chosen])
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            hidden = self._session.run(
                ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            out[chosen] = hidden[:, 0, :]
        return l2_normalise(out)
