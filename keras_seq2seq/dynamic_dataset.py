"""Feed a ``PyDataset`` of variable-length batches to the TensorFlow backend without shape errors."""

from __future__ import annotations

from typing import Any

import numpy as np

import keras


def dynamic_dataset(data: Any) -> Any:
    """``data`` itself, except a ``keras.utils.PyDataset`` under the TensorFlow backend, which becomes
    a ``tf.data.Dataset`` whose every dimension is dynamic.

    Keras' TensorFlow adapter fixes the batch signature from the first two batches; when both
    happen to have the same padded length, a later batch of another length fails with "generator
    yielded an element of shape (8, 8) where an element of shape (None, 16) was expected". This
    wrapper declares every axis ``None`` and runs ``on_epoch_end`` after each pass, so the
    per-epoch batch order of the ``PyDataset`` is kept.
    """
    if keras.backend.backend() != "tensorflow" or not isinstance(data, keras.utils.PyDataset):
        return data
    import tensorflow as tf

    first = data[0]

    def spec(x: Any) -> Any:
        x = np.asarray(x)
        return tf.TensorSpec((None,) * x.ndim, tf.as_dtype(x.dtype))

    signature = keras.tree.map_structure(spec, tuple(first) if isinstance(first, list) else first)
    length = len(data)

    def batches() -> Any:
        for i in range(length):
            yield data[i]
        data.on_epoch_end()

    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(length)).prefetch(tf.data.AUTOTUNE)
