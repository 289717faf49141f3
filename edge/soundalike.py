"""exact_match's fallback for rare names the recogniser writes wrong ("Kirkcaldy" heard as "Kirk Cauldy").

When a spoken prompt has no exact hit, runs of 1 to 3 consecutive spoken words are compared with it joined
without spaces, both by sound (Metaphone keys, Jaro-Winkler) and by spelling (Levenshtein): a mishearing keeps
most of the sounds *and* most of the letters, while a different real word that sounds alike ("Kirkwall",
"cartoon" for "Saskatoon") shares the sounds but fewer letters. A run must pass both thresholds (fitted on the
development set's fit part, see README); only prompts of a single word of `MIN_LETTERS` or more letters are
tried, since short words are recognised well and collide with everyday words.
"""

from __future__ import annotations

from dataclasses import dataclass

import jellyfish

MAX_WORDS = 3
MIN_LETTERS = 6
SOUND_MIN = 0.8  # Jaro-Winkler of the Metaphone keys
SPELLING_MIN = 0.7  # 1 - Levenshtein distance / longer length


@dataclass(frozen=True)
class SoundAlikeHit:
    first: int  # token positions (inclusive)
    last: int
    similarity: float  # the lower of the two similarities, 0..1


def similarities(target: str, candidate: str) -> tuple[float, float]:
    """(sound, spelling) similarity of two words written without spaces, lower case."""
    sound = jellyfish.jaro_winkler_similarity(jellyfish.metaphone(target), jellyfish.metaphone(candidate))
    spelling = 1.0 - jellyfish.levenshtein_distance(target, candidate) / max(len(target), len(candidate))
    return sound, spelling


def find(tokens: list[str], target: str) -> list[SoundAlikeHit]:
    """Non-overlapping runs of tokens that sound and look like `target` (normalised, one word), best first."""
    if len(target) < MIN_LETTERS or not target.isalpha():
        return []
    hits = []
    for i in range(len(tokens)):
        joined = ""
        for j in range(i, min(i + MAX_WORDS, len(tokens))):
            joined += tokens[j]
            if len(joined) > 1.5 * len(target):
                break
            if len(joined) < 0.6 * len(target):
                continue
            sound, spelling = similarities(target, joined)
            if sound >= SOUND_MIN and spelling >= SPELLING_MIN:
                hits.append(SoundAlikeHit(i, j, min(sound, spelling)))
    hits.sort(key=lambda h: -h.similarity)
    taken: list[SoundAlikeHit] = []
    for h in hits:
        if all(h.last < t.first or h.first > t.last for t in taken):
            taken.append(h)
    return taken
