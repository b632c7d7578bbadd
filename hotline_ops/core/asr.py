"""Speech-to-text accuracy as the contract measures it (P1.2: accuracy ≥ 98 %), pure.

Accuracy is ``1 − CER`` (character error rate) on normalised text: Chinese is scored per
character, so a transcript that differs from the reference only in script (traditional vs
simplified), width (full-width digits) or punctuation and spacing counts as exact. The
traditional→simplified converter is passed in, so this module needs only the stdlib.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable

# Letters (incl. CJK ideographs, category Lo), numbers and combining marks are speech;
# punctuation, symbols, separators and control characters are not.
_KEPT_CATEGORIES = frozenset("LNM")


def normalise(text: str, to_simplified: Callable[[str], str]) -> str:
    """Text reduced to what a speaker says: NFKC, simplified script, lower-case latin, and
    every punctuation mark (Chinese and ASCII), symbol and whitespace removed."""
    # NFKC first: it maps full-width forms and CJK compatibility ideographs to the plain
    # characters the converter knows.
    simplified = to_simplified(unicodedata.normalize("NFKC", text))
    kept = (char for char in simplified if unicodedata.category(char)[0] in _KEPT_CATEGORIES)
    return "".join(kept).lower()


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance on characters (insert, delete, substitute each cost 1)."""
    if len(a) < len(b):
        a, b = b, a  # the shorter string sets the row length
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            substitute = previous[j - 1] + (char_a != char_b)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitute))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate of already-normalised text: edits ÷ reference length.

    An empty reference scores 0 against an empty hypothesis and 1 against anything else.
    The rate can exceed 1 when the hypothesis has many extra characters.
    """
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return edit_distance(reference, hypothesis) / len(reference)


def accuracy(reference: str, hypothesis: str) -> float:
    """``1 − cer``, clipped at 0, of already-normalised text."""
    return max(0.0, 1.0 - cer(reference, hypothesis))


def corpus_accuracy(total_edits: int, total_ref_chars: int) -> float:
    """``1 − Σedits ÷ Σref_chars``, clipped at 0; an empty corpus is 1 with no edits, else 0."""
    if total_ref_chars == 0:
        return 1.0 if total_edits == 0 else 0.0
    # (chars − edits) ÷ chars is one correctly rounded division, so 147 of 150 compares equal
    # to a threshold written as 0.98; 1 − 3/150 would round twice.
    return max(0, total_ref_chars - total_edits) / total_ref_chars


def aggregate(pairs: Iterable[tuple[str, str]]) -> tuple[int, int, float]:
    """``(total_edits, total_ref_chars, accuracy)`` over (reference, hypothesis) pairs of
    already-normalised text.

    The accuracy is corpus-level, ``1 − Σedits ÷ Σref_chars`` (see ``corpus_accuracy``), not
    the mean of per-sample accuracies: every reference character weighs the same, so one
    short recording cannot swing the result.
    """
    total_edits = total_ref_chars = 0
    for reference, hypothesis in pairs:
        total_edits += edit_distance(reference, hypothesis)
        total_ref_chars += len(reference)
    return total_edits, total_ref_chars, corpus_accuracy(total_edits, total_ref_chars)
