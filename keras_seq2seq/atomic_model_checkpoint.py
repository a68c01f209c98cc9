"""``AtomicModelCheckpoint``: ``keras.callbacks.ModelCheckpoint`` that never leaves a half-written file."""

from __future__ import annotations

import os
from typing import Any

import keras
from seq2seq_fit.atomic_file import atomic_write_path


def atomic_save(model: keras.Model, filepath: str, weights_only: bool = False) -> None:
    """Save ``model`` (or its weights) to a temporary file next to ``filepath``, fsync it and
    ``os.replace`` it into place: readers see the old file or the new one, never a partial one."""
    suffix = ".weights.h5" if weights_only else ".keras"
    with atomic_write_path(filepath, suffix=suffix) as tmp:
        if weights_only:
            model.save_weights(str(tmp), overwrite=True)
        else:
            model.save(str(tmp), overwrite=True)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):  # type: ignore[misc]
    """``keras.callbacks.ModelCheckpoint`` whose saves are atomic.

    Keras writes ``.keras`` and ``.weights.h5`` files in place, so a crash, a full disk or a
    ``SIGKILL`` during a save destroys the previous checkpoint of the same name. This callback
    writes to a temporary file in the same directory, fsyncs it and renames it over the target
    (``os.replace``); on an error the temporary file is removed and the previous checkpoint is
    untouched; a temporary file left by a writer killed mid-save is removed by the next save of the
    same file. Arguments, ``monitor``/``save_best_only`` logic and file name formatting are those
    of ``ModelCheckpoint``.

    Example:
        >>> import os, tempfile
        >>> from keras_seq2seq import Seq2SeqModel
        >>> from seq2seq_fit import Vocab, collate_pairs
        >>> vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c"])
        >>> batch = collate_pairs([([4, 5, 6], [6, 5, 4]), ([5, 4], [4, 5])] * 2)  # (source ids, target ids)
        >>> model = Seq2SeqModel(vocab, vocab, {"hidden_size": 16, "embedding_dim": 8})
        >>> model.compile(optimizer="adam")
        >>> directory = tempfile.mkdtemp()
        >>> checkpoint = AtomicModelCheckpoint(os.path.join(directory, "last.keras"))  # saved after each epoch
        >>> history = model.fit(batch, batch_size=2, epochs=2, callbacks=[checkpoint], verbose=0)
        >>> os.listdir(directory)  # no temporary file left behind
        ['last.keras']
    """

    def _save_model(self, epoch: int, batch: int | None, logs: dict[str, Any] | None) -> None:
        filepath = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise OSError(f"AtomicModelCheckpoint: filepath {filepath!r} is an existing directory; give a file name")
        if self._should_save_model(epoch, batch, logs, filepath):
            atomic_save(self.model, filepath, self.save_weights_only)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")
