"""Callbacks that add decoding scores and training throughput to the epoch ``logs`` of ``model.fit``.

Keras hands one ``logs`` dict to the callbacks of an epoch in list order, so a value added here is
seen by every callback after it. Put these callbacks **before** ``CSVLogger``, ``TensorBoard``,
``EarlyStopping`` and ``ModelCheckpoint`` (``History`` and the progress bar come last anyway)::

    callbacks = [
        ValidationScores.from_data(data, "val"),  # val_ppl, val_wer, val_per
        TrainingThroughput(),  # tokens_per_s
        keras.callbacks.CSVLogger("history.csv"),
        keras.callbacks.TensorBoard("logs"),
        keras.callbacks.EarlyStopping(monitor="val_wer", mode="min", patience=4),
    ]
    model.fit(data.train(), validation_data=data.val(), epochs=20, callbacks=callbacks)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import keras
from seq2seq_fit import G2PScores, g2p_scores
from seq2seq_fit.config import check_int

Tokens = Sequence[str]


def first_batches_references(
    data: Any, split: str, batches: int | None
) -> tuple[list[list[str]], list[list[list[str]]]]:
    """Unique sources of the first ``batches`` batches of ``split`` (all when ``None``) with every
    reference found in those batches: the words ``LitSeq2Seq`` scores under ``limit_val_batches``."""
    from datamodules.corpus import group_references

    pairs = data.corpus.split(split)
    if batches is not None:
        order = data.data.sampler(split).batches()[:batches]
        pairs = [pairs[i] for batch in order for i in batch]
    return group_references(pairs)


class ValidationScores(keras.callbacks.Callback):  # type: ignore[misc]
    """Greedy-decodes ``sources`` at the end of an epoch and adds word and phone error rates to ``logs``.

    Adds, for ``prefix="val_"``:

    - ``val_wer``, ``val_per``: percent, multi-reference (a source is right when the greedy output
      equals any of its references; phone errors count against the closest reference), from
      :func:`seq2seq_fit.g2p_scores`, as ``LitSeq2Seq`` logs ``val/wer`` and ``val/per``. For
      corpora that are not G2P they are the sentence error rate and the token error rate.
      Computed at epochs ``0, every, 2 * every, ...``: ``CSVLogger`` fixes its columns at the
      first epoch, and on other epochs the keys are absent, which ``EarlyStopping`` and
      ``ModelCheckpoint`` skip (a NaN would count as "no improvement").
    - ``val_ppl``: ``exp(val_loss)`` whenever ``val_loss`` is in ``logs``. ``Seq2SeqModel``'s
      validation loss is the mean NLL per target token over the split without label smoothing,
      so this is the per-token perplexity (``LitSeq2Seq``'s ``val/ppl``).

    Must come before the callbacks that read these values (``CSVLogger``, ``TensorBoard``,
    ``EarlyStopping``, ``ModelCheckpoint``) in the ``callbacks`` list.

    Args:
        sources: token lists (or strings split by ``tokenizer``) to decode.
        references: for each source, its acceptable target token lists.
        every: decode every ``every`` epochs.
        prefix: prefix of the added keys.
        batch_size: sources decoded at once.
        tokenizer: how string sources are split (see ``Seq2SeqModel.translate``).

    Example:
        >>> scores = ValidationScores.from_data(data, "val")  # doctest: +SKIP
        >>> model.fit(data.train(), validation_data=data.val(), epochs=5,
        ...           callbacks=[scores, keras.callbacks.EarlyStopping("val_wer")])  # doctest: +SKIP
    """

    def __init__(
        self,
        sources: Sequence[str | Tokens],
        references: Sequence[Sequence[Tokens]],
        every: int = 1,
        prefix: str = "val_",
        batch_size: int = 256,
        tokenizer: Any = "whitespace",
    ) -> None:
        super().__init__()
        if isinstance(sources, str) or len(sources) != len(references):
            raise ValueError(
                f"ValidationScores: got {len(sources)} sources and {len(references)} reference lists; "
                "expected a list of sources and one list of references per source"
            )
        if not sources:
            raise ValueError("ValidationScores.sources: got no sources; give at least one")
        check_int("ValidationScores", "every", every, 1)
        check_int("ValidationScores", "batch_size", batch_size, 1)
        self.sources = list(sources)
        self.references = [list(r) for r in references]
        self.every = every
        self.prefix = prefix
        self.batch_size = batch_size
        self.tokenizer = tokenizer
        self.last_scores: G2PScores | None = None

    @classmethod
    def from_data(cls, data: Any, split: str = "val", batches: int | None = None, **kwargs: Any) -> ValidationScores:
        """Scores for the sources of ``data.split(split)`` (a ``KerasData``), all of them or those of
        its first ``batches`` batches (the ones ``fit(validation_steps=...)`` over a fresh sequence
        evaluates; ``limit_val_batches`` on the Lightning side)."""
        if batches is not None:
            check_int("ValidationScores.from_data", "batches", batches, 1)
        sources, references = first_batches_references(data, split, batches)
        return cls(sources, references, **kwargs)

    def score(self) -> G2PScores:
        """Greedy-decode the sources with the current weights and score them."""
        hypotheses = self.model.translate(self.sources, batch_size=self.batch_size, tokenizer=self.tokenizer)
        return g2p_scores(hypotheses, self.references)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        loss = logs.get(f"{self.prefix}loss")
        if loss is not None:
            logs[f"{self.prefix}ppl"] = math.exp(loss) if loss < 700.0 else math.inf
        if epoch % self.every == 0:
            self.last_scores = self.score()
            logs[f"{self.prefix}wer"] = self.last_scores.wer
            logs[f"{self.prefix}per"] = self.last_scores.per


class TrainingThroughput(keras.callbacks.Callback):  # type: ignore[misc]
    """Adds ``tokens_per_s`` to ``logs``: target tokens trained per second of the epoch.

    Tokens: the non-pad target tokens of the epoch's training batches, counted inside
    ``Seq2SeqModel.train_step`` by its ``target_tokens`` tracker (so any input works: a
    ``KerasData`` sequence, a ``tf.data.Dataset``, arrays; on every backend and under
    ``tf.distribute``). Time: wall clock from the start of the epoch's first training batch to the
    end of its last one (read when validation starts, or at epoch end without validation), so
    validation and epoch-end callbacks are not counted; the first epoch includes tracing and
    compilation. Reading the tracker waits for the device, so the time covers the work done.

    Must come before ``CSVLogger`` / ``TensorBoard`` in the ``callbacks`` list. The last
    epoch's numbers stay in ``tokens`` and ``seconds``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tokens: float | None = None
        self.seconds: float | None = None
        self._start: float | None = None
        self._measured = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not hasattr(self.model, "target_tokens_tracker"):
            raise ValueError(
                f"TrainingThroughput: the model is a {type(self.model).__name__}; it needs a "
                "keras_seq2seq.Seq2SeqModel (whose train_step counts the target tokens)"
            )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start, self._measured = None, False

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._start is None:
            self._start = time.perf_counter()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Validation inside fit: training is over for this epoch, the trackers not yet reset.
        if self._start is not None and not self._measured:
            self._measure()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._start is None:
            return  # no training batch ran
        if not self._measured:
            self._measure()
        assert self.tokens is not None and self.seconds is not None
        if logs is not None:
            logs["tokens_per_s"] = self.tokens / max(self.seconds, 1e-9)
        self._start = None

    def _measure(self) -> None:
        assert self._start is not None
        # Converting the tracker waits for the last training step to finish.
        self.tokens = float(keras.ops.convert_to_numpy(self.model.target_tokens_tracker.result()))
        self.seconds = time.perf_counter() - self._start
        self._measured = True


__all__ = ["TrainingThroughput", "ValidationScores", "first_batches_references"]
