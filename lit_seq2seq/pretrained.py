"""The canonical weight arrays of :mod:`seq2seq_fit.model_format` to and from a ``Seq2Seq`` or ``Transformer``.

The canonical layout is PyTorch's own ``state_dict()`` of either network, so the adapter only moves arrays
between numpy (float32, CPU) and the model's tensors (its device and dtype).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from lit_seq2seq.seq2seq import Seq2Seq
from lit_seq2seq.transformer import Transformer


def canonical_weights(model: Seq2Seq | Transformer) -> dict[str, np.ndarray]:
    """``model.state_dict()`` as float32 numpy arrays on the CPU."""
    return {key: value.detach().to("cpu", torch.float32).numpy() for key, value in model.state_dict().items()}


def load_canonical_weights(model: Seq2Seq | Transformer, weights: Mapping[str, np.ndarray]) -> None:
    """Copy canonical ``weights`` (checked by ``load_pretrained``) into ``model``, keeping its device and dtype."""
    own = model.state_dict()
    tensors = {
        key: torch.from_numpy(np.array(value)).to(own[key].device, own[key].dtype) for key, value in weights.items()
    }
    model.load_state_dict(tensors, strict=True)


__all__ = ["canonical_weights", "load_canonical_weights"]
