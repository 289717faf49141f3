"""Timed text (spoken words, on-screen text) -> exact hits and semantic windows.

Exact matching compares normalised words: case, punctuation and diacritics never matter ("Café," = "cafe"),
and a hit always covers whole words ("cat" never matches "category"). On-screen text is also space-
insensitive ("SALE50%OFF" holds "sale 50% off"), takes a change of case or a number glued to a word for the space
the reader dropped ("BAKERYSchool", "SALE50%": see `screen_words`), and tolerates one OCR misread in words of `_TOLERANT_LEN` or
more characters: one character read as another of the same shape ("BREAKlNG", "5O% OFF"), never a different
letter or one more or less, which makes other real words (HOSTEL is not HOTEL, BAKERS is not BAKERY).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters/digits, keeping inner apostrophes ("don't")
_TOLERANT_LEN = 5
# Characters an OCR model takes for one another (after casefolding): the misreads on-screen matching forgives. On
# the development set's fit part any one-letter difference found no sign the reader had misread and took BAKERS
# DOZEN for BAKERY (its one wrong exact text pair).
_LOOKALIKES = ("o0qd", "il1|!j", "s5$", "b8", "z2", "g69", "a4", "ef", "uv", "t7", "cg", "hn")
_LOOKALIKE = {(x, y) for group in _LOOKALIKES for x in group for y in group if x != y}
_SENTENCE_END = re.compile(r"[.!?…。！？]$")


@dataclass(frozen=True)
class TimedText:
    start: float
    end: float
    text: str


def normalise(text: str) -> list[str]:
    """Words of a text, casefolded, without diacritics or punctuation."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return [w.replace("'", "") for w in _WORD.findall(plain)]


# Where a text reader dropped a space: lower to upper case ("bigSale"), the last capital of a capitalised run
# before a capitalised word ("BAKERYSchool"), and a number of 2+ digits against letters ("SALE50", "50OFF"); a
# single digit is more often a misread letter ("5ALE", "H0TEL") and stays part of its word.
_GLUED = re.compile(r"(?<=[^\W\d_])(?=\d{2})|(?<=\d{2})(?=[^\W\d_])")


def screen_words(text: str) -> list[str]:
    """Words of an on-screen text (as `normalise`), also split where the reader seems to have dropped a space."""
    chars = []
    for i, ch in enumerate(text):
        before, after = text[max(0, i - 2) : i], text[i + 1 : i + 3]
        # two lower-case letters on the lower-case side, so that one misread letter ("BREAKlNG") breaks nothing
        lower_before = before.isalpha() and before.islower() and len(before) == 2
        capital_word_after = before[-1:].isupper() and after.isalpha() and after.islower() and len(after) == 2
        if ch.isupper() and (lower_before or capital_word_after):
            chars.append(" ")
        chars.append(ch)
    return normalise(_GLUED.sub(" ", "".join(chars)))


class SpokenWords:
    """A video's spoken words normalised once and indexed by token, so each prompt costs only a lookup of
    where its first word was said (a request may bring 100 prompts to 10 h of speech)."""

    def __init__(self, texts: list[str]):
        self._tokens: list[str] = []
        self._owner: list[int] = []  # the spoken word each token came from ("U.S." gives "u" and "s")
        for i, text in enumerate(texts):
            for piece in normalise(text):
                self._tokens.append(piece)
                self._owner.append(i)
        self._at: dict[str, list[int]] = defaultdict(list)
        for k, token in enumerate(self._tokens):
            self._at[token].append(k)

    @property
    def tokens(self) -> list[str]:
        return self._tokens

    def owner(self, token: int) -> int:
        """The spoken word a token came from."""
        return self._owner[token]

    def find(self, prompt: str) -> list[tuple[int, int]]:
        """(first, last) spoken word of every occurrence of the prompt's words, consecutive and whole."""
        target = normalise(prompt)
        if not target:
            return []
        n = len(target)
        return [
            (self._owner[k], self._owner[k + n - 1])
            for k in self._at.get(target[0], ())
            if self._tokens[k : k + n] == target
        ]


def _within_one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]


def word_runs(words: list[str]) -> set[str]:
    """Every run of consecutive words, joined without spaces: what a prompt may match whole."""
    return {"".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}


def _one_misread(run: str, target: str) -> bool:
    """Same length, one character different, and the two look alike (_LOOKALIKES)."""
    if len(run) != len(target):
        return False
    differ = [(a, b) for a, b in zip(run, target) if a != b]
    return len(differ) == 1 and differ[0] in _LOOKALIKE


def runs_hold(runs: set[str], target: str, tolerant: bool = True, misreads_only: bool = False) -> bool:
    """Whether the prompt (its normalised words joined) appears in a text's word runs as whole words, ignoring
    spaces; when the prompt is `_TOLERANT_LEN` or more characters long, one character may differ: any one edit,
    or with `misreads_only` (on-screen text) one character read as a look-alike."""
    if not target:
        return False
    if target in runs:
        return True
    near = _one_misread if misreads_only else _within_one_edit
    return tolerant and len(target) >= _TOLERANT_LEN and any(near(run, target) for run in runs)


def sentence_windows(words: list[TimedText], min_words: int = 8, max_words: int = 40) -> list[TimedText]:
    """Spoken words -> windows for semantic matching: sentences, short ones merged with the next so a window
    carries enough context to mean something, long ones cut at `max_words`."""
    windows, current = [], []
    for w in words:
        current.append(w)
        ends_sentence = bool(_SENTENCE_END.search(w.text))
        if (ends_sentence and len(current) >= min_words) or len(current) >= max_words:
            windows.append(current)
            current = []
    if current:
        if windows and len(current) < min_words // 2:
            windows[-1].extend(current)  # a dangling fragment belongs to the sentence before it
        else:
            windows.append(current)
    return [TimedText(ws[0].start, ws[-1].end, " ".join(w.text for w in ws)) for ws in windows]
