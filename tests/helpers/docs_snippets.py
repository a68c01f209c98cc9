"""The Python code blocks of README.md and docs/*.md, and a runner that executes them, for
``tests/test_docs_snippets.py``.

**Which blocks.** Every fenced block whose language is ``python`` (or ``py``, ``python3``). The blocks of
one Markdown file run in order in one namespace, as a reader runs them: a later block may use the names
an earlier one defined. Each file starts with a fresh namespace in its own empty temporary working
directory.

**Markers.** An HTML comment directly before a block (only blank lines or other markers between),
invisible in the rendered page, says how the test treats it:

- ``<!-- docs-test: skip (REASON) -->``: the block is not run; the test reports it as skipped with
  REASON (so a block is never skipped silently). Use it for a block that cannot run here (needs a
  GPU, a shell fragment), not for a broken one.
- ``<!-- docs-test: setup`` then code lines, then ``-->``: hidden code run just before the block, in
  the same namespace, for what the page leaves to the reader (a trained ``model``, a ``path``, a file
  the block reads).

**Smaller sizes.** The runner trains for a few steps instead of the sizes written in the docs: before the
first block it wraps ``lightning.pytorch.Trainer.__init__`` (one epoch of at most ``max_steps``
batches, one validation batch, no sanity check) and ``keras.Model.fit`` (one epoch of at most
``max_steps`` steps, one validation step), and ``keras.Model.compile`` (no XLA: compiling takes most of
a minute on a CPU). Models keep the sizes the docs give; the CMUdict corpus is read once per process. Keras runs on its
default backend (``KERAS_BACKEND`` if set).

Run it by hand from the repository root::

    python -m tests.helpers.docs_snippets results.json README.md docs/keras.md --max-steps 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import textwrap
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.helpers import REPO

#: The Markdown files whose Python blocks run in the suite, relative to the repository root.
DOC_FILES = ("README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md")))
#: Fence languages taken as Python.
PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})

FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>```+|~~~+)\s*(?P<lang>[\w+-]*)")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>[\w-]+)(?P<rest>.*)$")
MISPLACED = "a docs-test marker must come directly before a ```python block"
SKIP_REASON = re.compile(r"^\s*\((?P<reason>.*\S.*)\)\s*-->\s*$")


class MarkerError(ValueError):
    """A ``docs-test`` marker that is malformed or not followed by a Python block."""


@dataclass(frozen=True)
class Block:
    """One Python code block of a Markdown file.

    Attributes:
        file: the Markdown file, relative to the repository root.
        line: the line of the opening fence (1-based).
        code: the block's code, dedented.
        setup: hidden code from a ``docs-test: setup`` marker, run first ("" if none).
        skip: the reason of a ``docs-test: skip`` marker ("" if the block runs).
    """

    file: str
    line: int
    code: str
    setup: str = ""
    skip: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def markdown_blocks(file: str, text: str) -> list[Block]:
    """The Python blocks of one Markdown file's ``text``, with their markers.

    Raises:
        MarkerError: a marker is malformed, unknown, or not followed by a Python block (naming the line).

    Examples:
        >>> text = "<!-- docs-test: skip (needs a GPU) -->\\n```python\\nimport torch\\n```\\n"
        >>> [(b.line, b.code, b.skip) for b in markdown_blocks("a.md", text)]
        [(2, 'import torch\\n', 'needs a GPU')]
        >>> markdown_blocks("a.md", "<!-- docs-test: skip (x) -->\\ntext\\n")
        Traceback (most recent call last):
        ...
        tests.helpers.docs_snippets.MarkerError: a.md:1: a docs-test marker must come directly before a ```python block
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: dict[str, str] = {}
    pending_line = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line)
        fence = FENCE.match(line)
        if marker:
            if not pending:
                pending_line = i + 1
            kind, rest = marker["kind"], marker["rest"]
            if kind == "skip":
                reason = SKIP_REASON.match(rest)
                if reason is None:
                    raise MarkerError(f"{file}:{i + 1}: write a skip as <!-- docs-test: skip (the reason) -->")
                pending["skip"] = reason["reason"].strip()
            elif kind == "setup":
                end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "-->"), None)
                if rest.strip() or end is None:
                    raise MarkerError(
                        f"{file}:{i + 1}: write a setup as <!-- docs-test: setup, then the code lines, then --> alone"
                    )
                pending["setup"] = textwrap.dedent("\n".join(lines[i + 1 : end]) + "\n")
                i = end
            else:
                raise MarkerError(f"{file}:{i + 1}: unknown docs-test marker {kind!r}; the markers are skip and setup")
        elif fence:
            ticks, indent = fence["ticks"], fence["indent"]
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith(ticks)), len(lines))
            if fence["lang"].lower() in PYTHON_LANGUAGES:
                body = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[i + 1 : end]]
                code = textwrap.dedent("\n".join(body) + "\n")
                blocks.append(Block(file, i + 1, code, pending.get("setup", ""), pending.get("skip", "")))
            elif pending:
                raise MarkerError(
                    f"{file}:{pending_line}: a docs-test marker must come directly before a ```python block"
                )
            pending = {}
            i = end
        elif line.strip() and pending:
            raise MarkerError(f"{file}:{pending_line}: {MISPLACED}")
        i += 1
    if pending:
        raise MarkerError(f"{file}:{pending_line}: {MISPLACED}")
    return blocks


def all_blocks(files: Sequence[str] = DOC_FILES) -> list[Block]:
    """The Python blocks of ``files`` (relative to the repository root), in file order."""
    return [b for f in files for b in markdown_blocks(f, (REPO / f).read_text(encoding="utf-8"))]


@dataclass
class Result:
    """What happened to one block: ``status`` is ``"ok"``, ``"error"`` or ``"skipped"``."""

    where: str
    status: str
    seconds: float = 0.0
    error: str = ""


def cap_training(max_steps: int) -> None:
    """Make every ``lightning.pytorch.Trainer`` and ``keras.Model.fit`` of this process train briefly.

    Trainers: one epoch, at most ``max_steps`` training batches, one validation/test/predict batch,
    no sanity check, no progress bar. ``fit``: one epoch of at most ``max_steps`` steps, one
    validation step, ``verbose=0``. ``compile``: ``jit_compile=False``. The CMUdict corpus is read once.
    """
    import functools

    import lightning.pytorch as pl

    import keras

    trainer_init = pl.Trainer.__init__

    @functools.wraps(trainer_init)
    def small_trainer(self: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        steps = kwargs.get("max_steps", -1)
        kwargs.update(
            max_epochs=1,
            max_steps=max_steps if steps is None or steps < 0 else min(steps, max_steps),
            limit_train_batches=max_steps,
            limit_val_batches=1,
            limit_test_batches=1,
            limit_predict_batches=1,
            num_sanity_val_steps=0,
            enable_progress_bar=False,
        )
        trainer_init(self, *args, **kwargs)

    pl.Trainer.__init__ = small_trainer  # type: ignore[method-assign]

    model_fit = keras.Model.fit

    @functools.wraps(model_fit)
    def small_fit(self: keras.Model, *args: Any, **kwargs: Any) -> Any:
        steps = kwargs.get("steps_per_epoch")
        kwargs.update(epochs=1, steps_per_epoch=max_steps if steps is None else min(steps, max_steps), verbose=0)
        if kwargs.get("validation_data") is not None:
            kwargs["validation_steps"] = 1
        return model_fit(self, *args, **kwargs)

    keras.Model.fit = small_fit  # type: ignore[method-assign]

    model_compile = keras.Model.compile

    @functools.wraps(model_compile)
    def compile_without_xla(self: keras.Model, *args: Any, **kwargs: Any) -> None:
        kwargs["jit_compile"] = False  # XLA compiling a 256-unit model takes most of a minute on a CPU
        model_compile(self, *args, **kwargs)

    keras.Model.compile = compile_without_xla  # type: ignore[method-assign]

    from datamodules import cmudict_g2p

    cmudict_g2p.cmudict_corpus = functools.cache(cmudict_g2p.cmudict_corpus)  # read once, not once per block


def run_file(blocks: Sequence[Block]) -> Iterator[Result]:
    """Run one Markdown file's blocks in order, in one namespace, in a fresh temporary directory."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    start_dir = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="docs-test-") as work:
        os.chdir(work)
        try:
            for block in blocks:
                if block.skip:
                    yield Result(block.where, "skipped", error=block.skip)
                    continue
                start = time.perf_counter()
                try:
                    if block.setup:
                        exec(compile(block.setup, f"{block.where} (docs-test setup)", "exec"), namespace)
                    exec(compile(block.code, block.where, "exec"), namespace)
                except BaseException as e:  # a block's failure (SystemExit too) is its result
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    error = "".join(traceback.format_exception(e)[-12:])
                    yield Result(block.where, "error", time.perf_counter() - start, error)
                else:
                    yield Result(block.where, "ok", time.perf_counter() - start)
        finally:
            os.chdir(start_dir)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Python blocks of Markdown files; write a JSON report.")
    parser.add_argument("report", help="the JSON file to write: one object per block")
    parser.add_argument("files", nargs="*", default=DOC_FILES, help="Markdown files relative to the repository root")
    parser.add_argument("--max-steps", type=int, default=2, help="training batches per fit (default 2)")
    args = parser.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore")
    cap_training(args.max_steps)
    results: list[Result] = []
    report = Path(args.report).resolve()
    for file in args.files:
        blocks = markdown_blocks(file, (REPO / file).read_text(encoding="utf-8"))
        for result in run_file(blocks):
            results.append(result)
            print(f"{result.where}: {result.status} ({result.seconds:.1f} s)", flush=True)
            report.write_text(json.dumps([asdict(r) for r in results], indent=1))
    report.write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
