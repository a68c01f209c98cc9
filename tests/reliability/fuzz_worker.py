"""Run by ``test_rel_loader_fuzz.py``: loads model files that the test mutated and decodes a few sources.

Usage, from the repository root::

    python -m tests.reliability.fuzz_worker

Reads one JSON request per line on stdin and answers one JSON line on stdout:

- ``{"make": DIR}`` writes the base files of a tiny model into ``DIR`` (``model/``, a model directory
  by ``save_pretrained``; ``model.ckpt``, a checkpoint as ``Trainer.save_checkpoint`` writes it;
  ``export/``, an ONNX export) and answers ``{"made": DIR}``;
- ``{"loader": "directory" | "checkpoint" | "onnx", "path": PATH}`` loads ``PATH`` the way a user does
  (``LitSeq2Seq.from_pretrained``, ``LitSeq2Seq.load_from_checkpoint``, ``OnnxTranslator``), decodes
  :data:`SOURCES` greedily and answers ``{"outcome": "loaded", "outputs": [...], "finite": bool}``
  (``finite``: every weight of the loaded model is finite), each answer with ``grew_mb``, the growth of the
  process's peak memory, ``{"outcome": "refused", "error": ...,
  "message": ...}`` for one of the package's errors (an ``InputError``), or ``{"outcome": "raw", ...}``
  with the last lines of the traceback for any other exception.

The test runs it under a memory cap and kills it when a request takes too long.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lit_seq2seq import LitSeq2Seq
from seq2seq_fit.errors import InputError
from seq2seq_fit.serving import OnnxTranslator

#: What every load decodes (greedy, a few steps): the property compares these outputs.
SOURCES = ["a b c", "d e", "h g f e", "b"]
TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefgh"]
MAX_LENGTH = 6


def make(out: Path) -> None:
    """The base files of a tiny (hidden 8) model: a model directory, a checkpoint and an ONNX export."""
    torch.manual_seed(25)
    module = LitSeq2Seq(TOKENS, TOKENS, {"embedding_dim": 6, "hidden_size": 8}, seed=5)
    module.save_pretrained(out / "model")
    module.export_onnx(out / "export")
    # what Trainer.save_checkpoint writes for a module: version, counters, the state dict, the hyper-parameters
    import lightning.pytorch as pl

    checkpoint: dict[str, Any] = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": pl.__version__,
        "state_dict": module.state_dict(),
        "loops": {},
        "callbacks": {},
        "optimizer_states": [],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": dict(module.hparams),
    }
    module.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, out / "model.ckpt")


def load(loader: str, path: str) -> dict[str, Any]:
    """Load ``path`` with ``loader`` and decode :data:`SOURCES`; the answer of a load request."""
    if loader == "onnx":
        translator = OnnxTranslator(path, threads=1)
        outputs = translator.translate(SOURCES, max_length=MAX_LENGTH)
        return {"outcome": "loaded", "outputs": outputs, "finite": True}  # the test checks the graphs' weights
    if loader == "directory":
        module = LitSeq2Seq.from_pretrained(path)
    else:
        module = LitSeq2Seq.load_from_checkpoint(path, map_location="cpu")
    module.eval()
    finite = all(bool(torch.isfinite(p).all()) for p in module.parameters())
    outputs = module.translate(SOURCES, max_length=MAX_LENGTH)
    return {"outcome": "loaded", "outputs": outputs, "finite": finite}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    if "make" in request:
        make(Path(request["make"]))
        return {"made": request["make"]}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    try:
        result = load(request["loader"], request["path"])
    except InputError as err:
        result = {"outcome": "refused", "error": type(err).__name__, "message": str(err)}
    except Exception as err:  # the property: anything else is a finding
        lines = traceback.format_exception(err)
        result = {
            "outcome": "raw",
            "error": f"{type(err).__module__}.{type(err).__name__}",
            "message": str(err)[:500],
            "where": "".join(lines[-4:])[-1500:],
        }
    result["grew_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024
    return result


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    answers = os.fdopen(os.dup(1), "w")  # the answers' own channel: whatever a library prints goes to stderr
    os.dup2(2, 1)
    print(json.dumps({"ready": True}), file=answers, flush=True)
    for line in sys.stdin:
        print(json.dumps(answer(json.loads(line))), file=answers, flush=True)


if __name__ == "__main__":
    main()
