"""Evaluation scores and metric names, shared by both trainers (framework-free).

Both sides evaluate the same way: one teacher-forced pass gives ``loss`` and ``ppl``; one greedy
decode, each source given :func:`~seq2seq_fit.decoding.length_budget` steps, gives the records of
:func:`eval_records`, and :func:`free_running_scores` turns a split's records into
``token_acc``, ``exact_match``, ``bleu``, ``wer`` and ``per``. The names and their meaning are
:data:`EVAL_METRICS`; :func:`metric_name` spells a name as each trainer logs it.

Units: ``loss`` is nats per target token and ``ppl`` its exponential; every other evaluation
score is a **percentage** (0 to 100): ``token_acc``, ``exact_match`` and ``bleu`` higher is
better, ``wer`` and ``per`` lower is better. ``exact_match + wer == 100``.

G2P scoring follows Sequitur's ``Evaluation.py`` (benchmarks/README.md, Protocols): a source is right
if its hypothesis equals *any* of its references; token errors are counted against the closest
reference. For corpora that are not G2P, ``wer`` is the sentence error rate and ``per`` the token
error rate.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from seq2seq_fit.decoding import length_budget, until_eos
from seq2seq_fit.vocab import PAD_ID, Vocab

Tokens = Sequence[str]
K = TypeVar("K", bound=Hashable)

EVAL_METRICS: tuple[str, ...] = ("loss", "ppl", "token_acc", "exact_match", "bleu", "wer", "per")
"""Names logged for validation (``val``) and test (``test``), by both trainers:

- ``loss``: teacher-forced cross-entropy, nats per target token (``<eos>`` included, no label
  smoothing), averaged over all target tokens of the split.
- ``ppl``: ``exp(loss)``, the per-token perplexity.
- ``token_acc``: percent of target tokens (``<eos>`` included) that the greedy output has at the
  same position, over all (source, reference) pairs (:func:`token_accuracy`).
- ``exact_match``: percent of distinct sources whose greedy output equals any of their
  references (:func:`exact_match`).
- ``bleu``: corpus BLEU of the greedy outputs against all references of each source, 0 to 100
  (:func:`bleu`, sacrebleu on the tokens as they are).
- ``wer``: percent of distinct sources whose output matches none of their references
  (``100 - exact_match``).
- ``per``: token edits to the closest reference over that reference's length, summed over
  sources, in percent (:func:`g2p_scores`).
"""

TRAIN_METRICS: tuple[str, ...] = ("loss", "tf_ratio", "fed_from_model", "tokens_per_s")
"""Names logged for training, by both trainers:

- ``loss``: training cross-entropy (scheduled sampling, label smoothing) per target token.
- ``tf_ratio``: the scheduled teacher-forcing ratio of the step.
- ``fed_from_model``: the share of decoder inputs (after ``<bos>``) that came from the model.
- ``tokens_per_s``: non-pad target tokens trained per second.
"""

Stage = Literal["train", "val", "test"]
Side = Literal["lightning", "keras"]


def metric_name(name: str, stage: Stage, side: Side) -> str:
    """How ``side`` logs the metric ``name`` of ``stage``.

    Lightning logs ``<stage>/<name>`` for every stage; Keras logs training metrics bare (its
    History) and ``<stage>_<name>`` for validation and test.

    Example:
        >>> metric_name("wer", "val", "lightning"), metric_name("wer", "val", "keras")
        ('val/wer', 'val_wer')
        >>> metric_name("loss", "train", "keras")
        'loss'
    """
    table = TRAIN_METRICS if stage == "train" else EVAL_METRICS
    if name not in table:
        raise ValueError(f"metric_name.name: got {name!r} for stage {stage!r}, expected one of {table}")
    if side == "lightning":
        return f"{stage}/{name}"
    if side == "keras":
        return name if stage == "train" else f"{stage}_{name}"
    raise ValueError(f"metric_name.side: got {side!r}, expected 'lightning' or 'keras'")


# -- records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalRecord:
    """One evaluated (source, reference) pair, as token ids.

    Attributes:
        source: the source ids without padding (the key that groups references).
        hypothesis: the greedy ids, cut to the source's :func:`~seq2seq_fit.decoding.length_budget` and after the first
            ``<eos>`` (kept).
        reference: the target ids up to and including ``<eos>``.
    """

    source: tuple[int, ...]
    hypothesis: tuple[int, ...]
    reference: tuple[int, ...]


def eval_records(source: Any, hypotheses: Any, targets: Any) -> list[EvalRecord]:
    """The :class:`EvalRecord` s of one batch.

    Args:
        source: source ids (B, S), right-padded with ``<pad>``.
        hypotheses: greedy ids (B, L) with ``L >= length_budget`` of every row's source length
            (anything after a row's budget is ignored).
        targets: decoder targets (B, T): the reference ids, ``<eos>``, then ``<pad>``.

    Example:
        >>> eval_records([[5, 6, 0]], [[7, 2, 9]], [[7, 8, 2, 0]])
        [EvalRecord(source=(5, 6), hypothesis=(7, 2), reference=(7, 8, 2))]
    """
    source, hypotheses, targets = np.asarray(source), np.asarray(hypotheses), np.asarray(targets)
    if not (source.ndim == hypotheses.ndim == targets.ndim == 2 and len(source) == len(hypotheses) == len(targets)):
        raise ValueError(
            f"eval_records: got source {source.shape}, hypotheses {hypotheses.shape} and targets {targets.shape}; "
            "expected three (B, ...) id matrices with the same B"
        )
    records = []
    for src, hyp, tgt in zip(source.tolist(), hypotheses.tolist(), targets.tolist(), strict=True):
        n = sum(1 for i in src if i != PAD_ID)
        records.append(
            EvalRecord(
                tuple(src[:n]),
                tuple(until_eos(hyp[: length_budget(n)])),
                tuple(i for i in until_eos(tgt) if i != PAD_ID),
            )
        )
    return records


def group_references(records: Iterable[tuple[K, Any, Any]]) -> tuple[list[K], list[Any], list[list[Any]]]:
    """Group ``(key, hypothesis, reference)`` triples per key, in order of first appearance.

    Returns ``(keys, hypotheses, references)``: one hypothesis per key (its first; a greedy
    decode gives the same one for every pair of a key) and the distinct references of each key.

    Example:
        >>> group_references([("a", "x", "x"), ("b", "y", "z"), ("a", "x", "w"), ("a", "x", "x")])
        (['a', 'b'], ['x', 'y'], [['x', 'w'], ['z']])
    """
    hyps: dict[K, Any] = {}
    refs: dict[K, list[Any]] = {}
    for key, hyp, ref in records:
        hyps.setdefault(key, hyp)
        seen = refs.setdefault(key, [])
        if ref not in seen:
            seen.append(ref)
    keys = list(hyps)
    return keys, [hyps[k] for k in keys], [refs[k] for k in keys]


def free_running_scores(records: Sequence[EvalRecord], vocab: Vocab, tokenizer: Any = None) -> dict[str, float]:
    """``token_acc``, ``exact_match``, ``bleu``, ``wer`` and ``per`` (percent) of a split's records.

    ``token_acc`` counts over the pairs; the others over distinct sources, each scored against
    all its references (decoded with ``vocab``). With a subword ``tokenizer`` (one whose
    ``vocab_tokens()`` is not ``None``, see :mod:`seq2seq_fit.tokenizer`) the hypotheses and
    references are first detokenized to text and split into words, so ``exact_match``, ``bleu``,
    ``wer`` and ``per`` count words, not pieces; ``token_acc`` stays on the model's tokens. Empty
    input gives ``{}``.

    Example:
        >>> v = Vocab.build([["a", "b"]])
        >>> a, b = v.encode(["a"])[0], v.encode(["b"])[0]
        >>> recs = [EvalRecord((4,), (a, 2), (a, 2)), EvalRecord((4,), (a, 2), (b, 2))]
        >>> scores = free_running_scores(recs, v)
        >>> scores["exact_match"], scores["wer"], scores["token_acc"]
        (100.0, 0.0, 75.0)
    """
    if not records:
        return {}
    subword = tokenizer is not None and tokenizer.vocab_tokens() is not None

    def words(ids: Sequence[int]) -> tuple[str, ...]:
        tokens = vocab.decode(ids)
        if not subword:
            return tuple(tokens)
        return tuple(tokenizer.detokenize(tokens).split())

    _, hyps, refs = group_references((r.source, words(r.hypothesis), words(r.reference)) for r in records)
    g2p = g2p_scores(hyps, refs)
    return {
        "token_acc": token_accuracy([r.hypothesis for r in records], [r.reference for r in records]),
        "exact_match": exact_match(hyps, refs),
        "bleu": bleu(hyps, refs),
        "wer": g2p.wer,
        "per": g2p.per,
    }


# -- scores ---------------------------------------------------------------------------------------


def token_accuracy(hypotheses: Sequence[Sequence[Any]], references: Sequence[Sequence[Any]]) -> float:
    """Percent of reference tokens the hypothesis has at the same position (0.0 for no tokens).

    Pairs are one to one; include the end marker in both sides so stopping early or late counts.

    Example:
        >>> token_accuracy([["a", "b", "</s>"], ["c"]], [["a", "c", "</s>"], ["c", "</s>"]])
        60.0
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"token_accuracy: got {len(hypotheses)} hypotheses and {len(references)} references")
    correct = sum(
        h == r for hyp, ref in zip(hypotheses, references, strict=True) for h, r in zip(hyp, ref, strict=False)
    )
    total = sum(len(r) for r in references)
    return 100.0 * correct / total if total else 0.0


def exact_match(hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]]) -> float:
    """Percent of sources whose hypothesis equals any of its references (0.0 for empty input).

    Example:
        >>> exact_match([["a", "b"], ["c"]], [[["a", "b"]], [["d"], ["c"]]])
        100.0
        >>> exact_match([["a", "b"], ["c"]], [[["a", "b"]], [["d"]]])
        50.0
    """
    _check_pairs("exact_match", hypotheses, references)
    if not hypotheses:
        return 0.0
    right = sum(any(list(h) == list(r) for r in refs) for h, refs in zip(hypotheses, references, strict=True))
    return 100.0 * right / len(hypotheses)


def bleu(hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]]) -> float:
    """Corpus BLEU (0 to 100) with any number of references per source (0.0 for empty input).

    ``sacrebleu.corpus_bleu`` on the tokens joined by spaces, without re-tokenizing them
    (``tokenize="none"``), with its default exponential smoothing.

    Example:
        >>> bleu([["the", "cat", "sat", "down"]], [[["the", "cat", "sat", "down"], ["a", "cat"]]])
        100.0
    """
    import sacrebleu  # here, not at the top: it costs ~70 ms and a CLI's --help needs none of it

    _check_pairs("bleu", hypotheses, references)
    if not hypotheses:
        return 0.0
    width = max(len(refs) for refs in references)
    # sacrebleu takes reference streams; None fills the streams of sources with fewer references
    streams = [[" ".join(refs[i]) if i < len(refs) else None for refs in references] for i in range(width)]
    score = sacrebleu.corpus_bleu([" ".join(h) for h in hypotheses], streams, tokenize="none").score  # type: ignore[arg-type]
    return round(float(score), 10)  # a perfect match reads 100.0, not 100.00000000000004


def edit_distance(hypothesis: Tokens, reference: Tokens) -> int:
    """Levenshtein distance between two token sequences (unit costs).

    Example:
        >>> edit_distance("K AE T".split(), "K AE T S".split())
        1
    """
    from rapidfuzz.distance import Levenshtein  # here: a CLI's --help needs none of it

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
    _check_pairs("g2p_scores", hypotheses, references)
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


def _check_pairs(name: str, hypotheses: Sequence[Any], references: Sequence[Any]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{name}: got {len(hypotheses)} hypotheses and {len(references)} reference lists; "
            "expected one list of references per hypothesis"
        )


__all__ = [
    "EVAL_METRICS",
    "TRAIN_METRICS",
    "EvalRecord",
    "G2PScores",
    "bleu",
    "closest_reference",
    "edit_distance",
    "eval_records",
    "exact_match",
    "free_running_scores",
    "g2p_scores",
    "group_references",
    "metric_name",
    "phone_error_rate",
    "token_accuracy",
    "word_error_rate",
]
