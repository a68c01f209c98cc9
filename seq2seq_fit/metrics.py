"""String metrics on token sequences (framework-free).

G2P scoring follows Sequitur's ``Evaluation.py`` (see REFERENCE.md section 4): a word is correct if
the hypothesis equals *any* reference; phone errors are counted against the closest reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

Tokens = Sequence[str]


def edit_distance(hypothesis: Tokens, reference: Tokens) -> int:
    """Levenshtein distance between two token sequences (unit costs).

    Example:
        >>> edit_distance("K AE T".split(), "K AE T S".split())
        1
    """
    return int(Levenshtein.distance(list(hypothesis), list(reference)))


def closest_reference(hypothesis: Tokens, references: Sequence[Tokens]) -> tuple[int, int]:
    """``(errors, reference_length)`` for the reference with fewest edits (first on ties)."""
    if not references:
        raise ValueError("closest_reference: got no references; every source needs at least one")
    best = min(range(len(references)), key=lambda i: edit_distance(hypothesis, references[i]))
    return edit_distance(hypothesis, references[best]), len(references[best])


@dataclass(frozen=True)
class G2PScores:
    """Word and phone error rates in percent, with the counts they come from."""

    wer: float
    per: float
    words: int
    word_errors: int
    phones: int
    phone_errors: int


def g2p_scores(hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]]) -> G2PScores:
    """Multi-reference WER and PER in percent.

    Args:
        hypotheses: one predicted token sequence per word.
        references: for each word, the list of acceptable pronunciations.

    Example:
        >>> s = g2p_scores([["T", "AH", "M"]], [[["T", "AH", "M"], ["T", "OW", "M"]]])
        >>> (s.wer, s.per)
        (0.0, 0.0)
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"g2p_scores: got {len(hypotheses)} hypotheses and {len(references)} reference lists; "
            "they must match one to one"
        )
    word_errors = phone_errors = phones = 0
    for hyp, refs in zip(hypotheses, references, strict=True):
        hyp = list(hyp)
        if not any(hyp == list(r) for r in refs):
            word_errors += 1
        errors, length = closest_reference(hyp, refs)
        phone_errors += errors
        phones += length
    words = len(hypotheses)
    return G2PScores(
        wer=100.0 * word_errors / words if words else 0.0,
        per=100.0 * phone_errors / phones if phones else 0.0,
        words=words,
        word_errors=word_errors,
        phones=phones,
        phone_errors=phone_errors,
    )


def word_error_rate(hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]]) -> float:
    """Percent of words whose hypothesis matches none of its references.

    Example:
        >>> hyps = [["R IY D"], ["L EH D"]]  # one token per phone in real use
        >>> word_error_rate(hyps, [[["R IY D"], ["R EH D"]], [["L IY D"]]])
        50.0
    """
    return g2p_scores(hypotheses, references).wer


def phone_error_rate(hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]]) -> float:
    """Edit distance to the closest reference, summed, over that reference's length, in percent.

    Example:
        >>> phone_error_rate([["R", "EH", "D"]], [[["R", "IY", "D"], ["R", "EH", "D"]]])
        0.0
        >>> round(phone_error_rate([["R", "AH", "D"]], [[["R", "IY", "D"], ["R", "EH", "D", "Z"]]]), 2)
        33.33
    """
    return g2p_scores(hypotheses, references).per


def exact_match(hypotheses: Sequence[Tokens], references: Sequence[Tokens]) -> float:
    """Fraction of hypotheses identical to their single reference (0.0 for empty input).

    Example:
        >>> exact_match([["a", "b"], ["c"]], [["a", "b"], ["d"]])
        0.5
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"exact_match: got {len(hypotheses)} hypotheses and {len(references)} references")
    if not hypotheses:
        return 0.0
    return sum(list(h) == list(r) for h, r in zip(hypotheses, references, strict=True)) / len(hypotheses)
