"""Model configuration shared by the Lightning and Keras implementations."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

ARCHITECTURES = ("rnn", "transformer")
CELLS = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong", "none")
LUONG_SCORES = ("dot", "general")


def check_choice(owner: str, name: str, value: Any, allowed: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{owner}.{name}: got {value!r}, expected one of {', '.join(map(repr, allowed))}")


def check_int(owner: str, name: str, value: Any, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an int ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner}.{name}: got {value!r}, expected an integer >= {minimum}")


def check_float(
    owner: str,
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ``ValueError`` unless ``value`` is a number in the given interval."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = v == v and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise ValueError(f"{owner}.{name}: got {value!r}, expected a number in {lb}{low}, {high}{hb}")


def check_bool(owner: str, name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"{owner}.{name}: got {value!r}, expected True or False")


def parse_bool(text: str) -> bool:
    """A command-line boolean (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``).

    Example:
        >>> parse_bool("Yes"), parse_bool("0")
        (True, False)
    """
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"got {text!r}, expected true or false")


def from_plain_dict(cls: Any, data: dict[str, Any]) -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting keys it does not know."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}.from_dict: expected a dict, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"{cls.__name__}.from_dict: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed keys are {', '.join(sorted(known))}"
        )
    return cls(**data)


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Architecture of the encoder-decoder model; one config means one model in both frameworks.

    Args:
        cell: recurrent cell, ``"gru"`` or ``"lstm"``.
        embedding_dim: size of the source and target token embeddings.
        hidden_size: decoder hidden size and encoder output size. A bidirectional encoder uses
            ``hidden_size // 2`` units per direction, so it must be even.
        num_layers: stacked recurrent layers in the encoder and in the decoder.
        bidirectional: whether the encoder reads the source in both directions.
        dropout: dropout on embeddings, between recurrent layers and before the output layer.
        attention: ``"bahdanau"`` (additive, fed into the recurrence, steps one token at a time),
            ``"luong"`` (multiplicative, after the recurrence) or ``"none"``.
        luong_score: ``"dot"`` or ``"general"`` scoring for Luong attention.
        tie_embeddings: share the target embedding matrix with the output layer
            (needs ``embedding_dim == hidden_size``).
        label_smoothing: label smoothing of the training cross-entropy, in ``[0, 1)``.
        architecture: ``"rnn"`` (the recurrent encoder-decoder above) or ``"transformer"``: a
            pre-layer-norm Transformer encoder-decoder with ``num_layers`` blocks on each side, model
            width ``hidden_size``, ``num_heads`` attention heads, feed-forward width ``ffn_size`` and
            sinusoidal positions (it decodes past its longest training target). Token embeddings of
            ``embedding_dim`` are projected to ``hidden_size`` when the two differ. ``cell``,
            ``bidirectional``, ``attention`` and ``luong_score`` are RNN settings and must keep their
            defaults.
        num_heads: attention heads of a Transformer (``hidden_size`` must be a multiple of it).
        ffn_size: feed-forward width of a Transformer block; ``0`` means ``4 * hidden_size``.

    Example:
        >>> cfg = Seq2SeqConfig(cell="lstm", hidden_size=128, attention="luong")
        >>> Seq2SeqConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    cell: str = "gru"
    embedding_dim: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    attention: str = "luong"
    luong_score: str = "general"
    tie_embeddings: bool = False
    label_smoothing: float = 0.0
    architecture: str = "rnn"
    num_heads: int = 4
    ffn_size: int = 0

    def __post_init__(self) -> None:
        owner = "Seq2SeqConfig"
        check_choice(owner, "cell", self.cell, CELLS)
        check_int(owner, "embedding_dim", self.embedding_dim, 1)
        check_int(owner, "hidden_size", self.hidden_size, 1)
        check_int(owner, "num_layers", self.num_layers, 1)
        check_bool(owner, "bidirectional", self.bidirectional)
        check_float(owner, "dropout", self.dropout, 0.0, 1.0, high_open=True)
        check_choice(owner, "attention", self.attention, ATTENTIONS)
        check_choice(owner, "luong_score", self.luong_score, LUONG_SCORES)
        check_bool(owner, "tie_embeddings", self.tie_embeddings)
        check_float(owner, "label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        check_choice(owner, "architecture", self.architecture, ARCHITECTURES)
        check_int(owner, "num_heads", self.num_heads, 1)
        check_int(owner, "ffn_size", self.ffn_size, 0)
        if self.architecture == "transformer":
            rnn_only = {"cell": "gru", "bidirectional": False, "attention": "luong", "luong_score": "general"}
            for name, default in rnn_only.items():
                if getattr(self, name) != default:
                    raise ValueError(
                        f"{owner}.{name}: got {getattr(self, name)!r} with architecture='transformer'; {name} "
                        f"is an RNN setting, leave it at its default {default!r}"
                    )
            if self.hidden_size % self.num_heads:
                raise ValueError(
                    f"{owner}.num_heads: got {self.num_heads} with hidden_size={self.hidden_size}; hidden_size "
                    "must be a multiple of num_heads"
                )
        if self.bidirectional and self.hidden_size % 2:
            raise ValueError(
                f"{owner}.hidden_size: got {self.hidden_size} with bidirectional=True; a bidirectional "
                "encoder uses hidden_size // 2 units per direction, so hidden_size must be even"
            )
        if self.tie_embeddings and self.embedding_dim != self.hidden_size:
            raise ValueError(
                f"{owner}.tie_embeddings: needs embedding_dim == hidden_size, got embedding_dim="
                f"{self.embedding_dim} and hidden_size={self.hidden_size}"
            )

    @property
    def feed_forward_size(self) -> int:
        """Feed-forward width of a Transformer block (``ffn_size``, or ``4 * hidden_size`` for ``0``)."""
        return self.ffn_size or 4 * self.hidden_size

    @property
    def encoder_units(self) -> int:
        """Recurrent units per encoder direction."""
        return self.hidden_size // 2 if self.bidirectional else self.hidden_size

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of primitives (what checkpoints store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Seq2SeqConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return from_plain_dict(cls, data)  # type: ignore[no-any-return]


def as_config(value: Seq2SeqConfig | Mapping[str, Any] | None, *, name: str = "config") -> Seq2SeqConfig:
    """A :class:`Seq2SeqConfig` from itself, a dict of its fields, or ``None`` (the defaults).

    What both models' constructors accept as ``config``.

    Args:
        value: the config, its dict (``to_dict()``, a checkpoint's hyper-parameters) or ``None``.
        name: the argument named in errors (``LitSeq2Seq.config``).

    Example:
        >>> as_config({"hidden_size": 32}).hidden_size
        32
        >>> as_config("big")
        Traceback (most recent call last):
        ...
        ValueError: config: got 'big', expected a Seq2SeqConfig, a dict of its fields or None
    """
    if value is None:
        return Seq2SeqConfig()
    if isinstance(value, Seq2SeqConfig):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}: got {value!r}, expected a Seq2SeqConfig, a dict of its fields or None")
    return Seq2SeqConfig.from_dict(dict(value))
