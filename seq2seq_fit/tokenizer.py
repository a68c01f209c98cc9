"""How ``translate`` splits a source string into tokens, the same way on both sides (framework-free)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

#: A tokenizer name (``whitespace``, ``chars``, or a spelling of it in ``ALIASES``) or a callable.
Tokenizer = str | Callable[[str], list[str]]

TOKENIZERS = ("whitespace", "chars")
#: Other accepted spellings of the names in ``TOKENIZERS``.
ALIASES = {"char": "chars"}


def check_tokenizer(tokenizer: Tokenizer, owner: str = "translate") -> None:
    """Raise ``ValueError`` unless ``tokenizer`` is a callable or a known name.

    Example:
        >>> check_tokenizer("bpe")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: translate.tokenizer: got 'bpe', expected 'whitespace', 'chars' (or 'char') or a callable
    """
    if callable(tokenizer) or tokenizer in TOKENIZERS or tokenizer in ALIASES:
        return
    raise ValueError(
        f"{owner}.tokenizer: got {tokenizer!r}, expected {', '.join(map(repr, TOKENIZERS))}"
        f" (or {', '.join(map(repr, ALIASES))}) or a callable"
    )


def split_tokens(
    source: str | Sequence[str], tokenizer: Tokenizer = "whitespace", owner: str = "translate"
) -> list[str]:
    """Tokens of one source: a token list as is, a string split like the training data.

    Args:
        source: a string, or an already tokenised sequence of strings.
        tokenizer: ``whitespace`` (words), ``chars`` (characters; also ``char``)
            or a callable from a string to its tokens.
        owner: who is asking, named in the error for an unknown tokenizer.

    Example:
        >>> split_tokens("abc", "chars"), split_tokens("a  b"), split_tokens(["x", "y"])
        (['a', 'b', 'c'], ['a', 'b'], ['x', 'y'])
    """
    if not isinstance(source, str):
        return list(source)
    if callable(tokenizer):
        return list(tokenizer(source))
    check_tokenizer(tokenizer, owner)
    if tokenizer == "whitespace":
        return source.split()
    return list(source)


__all__ = ["ALIASES", "TOKENIZERS", "Tokenizer", "check_tokenizer", "split_tokens"]
