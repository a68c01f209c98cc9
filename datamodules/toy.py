"""The seed code's four English -> Korean sentence pairs (word level)."""

from __future__ import annotations

from datamodules.corpus import Corpus

TOY_PAIRS = (
    ("I feel hungry", "나는 배가 고프다"),
    ("tensorflow is very difficult", "텐서플로우는 매우 어렵다"),
    ("tensorflow is a framework for deep learning", "텐서플로우는 딥러닝을 위한 프레임워크이다"),
    ("tensorflow is very fast changing", "텐서플로우는 매우 빠르게 변화한다"),
)


def toy_corpus() -> Corpus:
    """The toy corpus; every split holds the same four pairs, since the point is memorising them."""
    pairs = [(src.split(), tgt.split()) for src, tgt in TOY_PAIRS]
    return Corpus("toy", train=list(pairs), val=list(pairs), test=list(pairs))
