"""Token vocabulary with the four specials every model here relies on."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

from seq2seq_fit.errors import InputError, shown

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


class Vocab:
    """Maps tokens to ids: ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3, then the rest.

    Args:
        tokens: the full token list, specials first (what checkpoints store).

    Example:
        >>> v = Vocab.build([["a", "b"], ["b"]])
        >>> v.tokens
        ['<pad>', '<bos>', '<eos>', '<unk>', 'b', 'a']
        >>> v.encode(["a", "z"], add_eos=True)
        [5, 3, 2]
        >>> v.decode([1, 5, 4, 2, 4])
        ['a', 'b']
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"Vocab: the first tokens must be {list(SPECIALS)}, got {tokens[: len(SPECIALS)]}")
        if len(set(tokens)) != len(tokens):  # linear: a handed-over vocabulary may hold millions of tokens
            dupes = sorted(t for t, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"Vocab: duplicate tokens {shown(dupes[:10], 200)}")
        self._tokens = tokens
        self._index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """Vocabulary of the tokens in ``sequences``, most frequent first (ties by token).

        Args:
            sequences: token sequences to count.
            min_freq: drop tokens seen fewer times.
            max_size: keep at most this many tokens, specials included.
        """
        if min_freq < 1:
            raise ValueError(f"Vocab.build: min_freq must be >= 1, got {min_freq!r}")
        if max_size is not None and max_size < len(SPECIALS):
            raise ValueError(f"Vocab.build: max_size must be >= {len(SPECIALS)}, got {max_size!r}")
        counts = Counter(t for seq in sequences for t in seq)
        for special in SPECIALS:
            counts.pop(special, None)
        ordered = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ordered = ordered[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *ordered])

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, specials first (a copy)."""
        return list(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other._tokens == self._tokens

    def __hash__(self) -> int:
        return hash(tuple(self._tokens))

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"

    def id(self, token: str) -> int:
        """Id of ``token``, ``<unk>``'s id if unknown."""
        return self._index.get(token, UNK_ID)

    def encode(self, tokens: Sequence[str], add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Token ids, unknown tokens mapped to ``<unk>``."""
        ids = [self._index.get(t, UNK_ID) for t in tokens]
        if add_bos:
            ids.insert(0, BOS_ID)
        if add_eos:
            ids.append(EOS_ID)
        return ids

    def count_unknown(self, tokens: Sequence[str]) -> int:
        """How many of ``tokens`` are not in the vocabulary."""
        return sum(t not in self._index for t in tokens)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to the first ``<eos>``, without ``<pad>`` and ``<bos>``.

        ``<unk>`` is kept, so a prediction's length and its unknown tokens stay visible.
        """
        from seq2seq_fit.decoding import output_positions  # here: decoding imports the special ids from this module

        ids = [int(i) for i in ids]
        return [self._tokens[ids[p]] if 0 <= ids[p] < len(self._tokens) else UNK for p in output_positions(ids)]

    def to_json(self) -> str:
        """JSON list of the tokens."""
        return json.dumps(self._tokens, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        """Inverse of :meth:`to_json`."""
        tokens = json.loads(text)
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("Vocab.from_json: expected a JSON list of strings")
        return cls(tokens)


def as_vocab(value: Vocab | Sequence[str]) -> Vocab:
    """Accept a ``Vocab`` or its token list (as stored in checkpoints)."""
    return value if isinstance(value, Vocab) else Vocab(list(value))


def check_same_vocab(kind: str, expected: Vocab, given: Vocab) -> None:
    """Raise an :class:`~seq2seq_fit.errors.InputError` (a ``ValueError``) naming the first difference
    when a model's vocabulary is not the data's.

    Args:
        kind: ``source`` or ``target``, for the message.
        expected: the model's vocabulary.
        given: the data's.

    Example:
        >>> check_same_vocab("source", Vocab.build([["a"]]), Vocab.build([["b"]]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.InputError: source vocabulary mismatch (id 4 is 'a' vs 'b'): the model was ...
    """
    if expected == given:
        return
    a, b = expected.tokens, given.tokens
    first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    detail = (
        f"sizes {len(a)} vs {len(b)}" if first == min(len(a), len(b)) else f"id {first} is {a[first]!r} vs {b[first]!r}"
    )
    raise InputError(
        f"{kind} vocabulary mismatch ({detail}): the model was trained with a different vocabulary "
        "than this data; pass the model's vocabularies to the data (src_vocab=..., tgt_vocab=...)"
    )
