"""``LitSeq2Seq``: the thin LightningModule that trains a :class:`Seq2Seq` with scheduled teacher forcing."""

from __future__ import annotations

import functools
import math
import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.distributed as dist
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.types import _MAP_LOCATION_TYPE, _PATH
from lightning.pytorch.utilities import rank_zero_warn
from torchmetrics import MeanMetric

from lit_seq2seq.batch import as_tensors, check_first_batch, to_batch
from lit_seq2seq.callbacks import TrainingThroughput, is_logging_step
from lit_seq2seq.checkpoint_io import SafeCheckpointIO, check_checkpoint, check_rng_state, load_error, refusal
from lit_seq2seq.pretrained import canonical_weights, load_canonical_weights
from lit_seq2seq.scheduled_sampling import applied_ratio, fed_from_model, gold_probability
from lit_seq2seq.seq2seq import Seq2Seq, masked_cross_entropy
from lit_seq2seq.transformer import Transformer
from lit_seq2seq.translate import TorchStepDecoder
from seq2seq_fit import Seq2SeqConfig, TeacherForcing, check_lr_schedule, lr_factor
from seq2seq_fit.config import check_bool, check_float
from seq2seq_fit.decoding import length_budget
from seq2seq_fit.pretrained import PretrainedSystem
from seq2seq_fit.scores import EvalRecord, eval_records, free_running_scores
from seq2seq_fit.teacher_forcing import APPLIED_RATIO_METRIC
from seq2seq_fit.vocab import PAD_ID, Vocab

#: Lightning's notice at every fit that a module's batch-transfer hooks take over from the data module's: LitSeq2Seq's
#: hooks (numpy and Hugging Face batches to tensors) are meant to run with any data module.
HOOK_NOTICE = r"You have overridden `on_(before|after)_batch_transfer` in `LightningModule` but have passed in a"

Batch = dict[str, torch.Tensor]


class LitSeq2Seq(PretrainedSystem, pl.LightningModule):
    """Trains an RNN or Transformer encoder-decoder with scheduled teacher forcing under ``Trainer.fit``.

    The teacher-forcing ratio is ``teacher_forcing.ratio(trainer.global_step)``. The coins come
    from a seeded generator on the model's device whose state is saved in checkpoints, so a
    resumed run makes the same decisions. Hyper-parameters are stored as plain data (dicts and
    token lists), so ``LitSeq2Seq.load_from_checkpoint(path)`` works with ``weights_only=True``.

    Logged: ``train/loss`` every step; ``train/tf_ratio`` (scheduled), ``train/fed_from_model``
    (actual), with a ``position_schedule`` ``train/tf_ratio_applied`` (the mean gold probability
    over the batch's decoder inputs), and ``train/tokens_per_s`` (target tokens per second, from the
    :class:`TrainingThroughput` callback the module adds unless the trainer has one) on the steps
    the loggers write (every ``log_every_n_steps``: each ``self.log`` costs the trainer CPU time,
    and values of other steps never reach a logger); for validation and test,
    the names of :data:`seq2seq_fit.scores.EVAL_METRICS` (``val/loss``, ``val/ppl``,
    ``val/token_acc``, ``val/exact_match``, ``val/bleu``, ``val/wer``, ``val/per``, and ``test/...``):
    teacher-forced ``loss`` and ``ppl``, and the percentages of one greedy decode, each source given
    ``seq2seq_fit.decoding.length_budget`` steps, scored by ``seq2seq_fit.scores.free_running_scores``
    (a source is right if it matches any of its references), as ``Seq2SeqModel`` logs ``val_<name>``.

    Batches are :class:`seq2seq_fit.Batch` dicts (``source``, ``source_lengths``, ``target_in``,
    ``target_out``; ``seq2seq_fit.collate_pairs`` is a ``collate_fn`` that makes them, numpy arrays
    included) or the Hugging Face layout (``input_ids``, ``attention_mask``, ``labels`` padded with
    -100), converted on the device (:func:`lit_seq2seq.batch.from_hugging_face`). The first batch of
    each stage goes through :func:`seq2seq_fit.check_batch`, so a wrong one raises one
    :class:`~seq2seq_fit.errors.InputError` naming the key and the expected layout.

    Around the network it has what ``Seq2SeqModel`` has, from :class:`seq2seq_fit.pretrained.PretrainedSystem`:
    ``translate`` (the options a :class:`~seq2seq_fit.GenerationConfig` and/or its fields as keywords),
    ``save_pretrained`` / ``from_pretrained`` (a model directory either system reads) and ``export_onnx``
    (also ``to_onnx``). ``trainer.predict`` returns greedy ids per batch, as ``Seq2SeqModel.predict``.

    Args:
        src_vocab: source vocabulary (``Vocab`` or its token list).
        tgt_vocab: target vocabulary (``Vocab`` or its token list).
        config: architecture (``Seq2SeqConfig`` or its dict; ``None`` for the defaults): ``architecture="rnn"``
            builds a :class:`Seq2Seq`, ``"transformer"`` a :class:`~lit_seq2seq.transformer.Transformer`.
        teacher_forcing: schedule and mode (``TeacherForcing`` or its dict; ``None``: ratio 1).
        src_tokenizer, tgt_tokenizer: how text becomes each side's tokens and back, saved with the
            model and used by :meth:`translate`: ``None`` (whitespace), ``"chars"``, a
            ``tokenizer.json`` or sentencepiece ``.model`` path, a :class:`seq2seq_fit.tokenizer.Tokenizer`
            or its ``to_dict()`` (see :func:`seq2seq_fit.tokenizer.as_tokenizer`). A subword
            tokenizer's pieces must be the vocabulary (``src_vocab=tokenizer.vocab_tokens()``).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear learning-rate warm-up over this many steps (0: none).
        lr_decay_steps: after the warm-up, cosine-decay the learning rate over this many steps
            (0: keep it constant); ``seq2seq_fit.lr_factor`` gives the schedule, the same as
            ``keras_seq2seq.WarmupCosineDecay``.
        min_lr_ratio: learning rate at the end of the decay, as a fraction of ``lr``.
        seed: seed of the teacher-forcing coins.
        compile: ``torch.compile`` the whole-sequence decoder (``luong``/``none`` RNNs and the Transformer,
            whose teacher-forced and parallel passes are single calls; the cached decoding step is not compiled).

    Example:
        >>> from datamodules import Seq2SeqDataModule
        >>> dm = Seq2SeqDataModule("toy", batch_size=4)
        >>> model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, {"hidden_size": 32, "embedding_dim": 16})
        >>> trainer = pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False,
        ...                      enable_progress_bar=False, enable_model_summary=False)
        >>> trainer.fit(model, dm)
        >>> trainer.global_step
        2
        >>> sorted(name for name in trainer.callback_metrics if name.startswith("val/"))
        ['val/bleu', 'val/exact_match', 'val/loss', 'val/per', 'val/ppl', 'val/token_acc', 'val/wer']
        >>> import tempfile
        >>> from seq2seq_fit import GenerationConfig
        >>> model.save_pretrained(directory := tempfile.mkdtemp())
        >>> again, source = LitSeq2Seq.from_pretrained(directory, lr=3e-4), dm.src_vocab.tokens[4:7]
        >>> beam = GenerationConfig(strategy="beam", beam_width=3)
        >>> again.translate([source], beam) == model.translate([source], strategy="beam", beam_width=3)
        True
    """

    def __init__(
        self,
        src_vocab: Vocab | list[str],
        tgt_vocab: Vocab | list[str],
        config: Seq2SeqConfig | dict[str, Any] | None = None,
        teacher_forcing: TeacherForcing | dict[str, Any] | None = None,
        *,
        src_tokenizer: Any = None,  # a Tokenizer, its dict, a name or path (Any: LightningCLI cannot parse a Protocol)
        tgt_tokenizer: Any = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        lr_decay_steps: int = 0,
        min_lr_ratio: float = 0.0,
        seed: int = 0,
        compile: bool = False,
    ) -> None:
        super().__init__()
        warnings.filterwarnings("ignore", HOOK_NOTICE)  # idempotent: an equal filter is replaced, not added
        self.init_system(
            "LitSeq2Seq", src_vocab, tgt_vocab, config, teacher_forcing, src_tokenizer, tgt_tokenizer, seed
        )
        check_float("LitSeq2Seq", "lr", lr, 0.0, math.inf, low_open=True, high_open=True)
        check_float("LitSeq2Seq", "weight_decay", weight_decay, 0.0, math.inf, high_open=True)
        check_lr_schedule("LitSeq2Seq", warmup_steps, lr_decay_steps, min_lr_ratio)
        check_bool("LitSeq2Seq", "compile", compile)
        self.save_hyperparameters(
            {
                "src_vocab": self.src_vocab.tokens,
                "tgt_vocab": self.tgt_vocab.tokens,
                "config": self.config.to_dict(),
                "teacher_forcing": self.teacher_forcing.to_dict(),
                "src_tokenizer": self.src_tokenizer.to_dict(),
                "tgt_tokenizer": self.tgt_tokenizer.to_dict(),
                "lr": float(lr),
                "weight_decay": float(weight_decay),
                "warmup_steps": int(warmup_steps),
                "lr_decay_steps": int(lr_decay_steps),
                "min_lr_ratio": float(min_lr_ratio),
                "seed": int(seed),
                "compile": bool(compile),
            }
        )
        network = Transformer if self.config.architecture == "transformer" else Seq2Seq
        self.model: Seq2Seq | Transformer = network(self.config, len(self.src_vocab), len(self.tgt_vocab))
        if compile and not self.model.decoder.steps_one_at_a_time:
            self.model.decoder.compile()
        self.eval_nll = MeanMetric()
        self._records: list[EvalRecord] = []
        self._generator: torch.Generator | None = None
        self._pending_rng_state: tuple[torch.Tensor, str] | None = None  # (state, device type it came from)
        self._checked_stages: set[str] = set()  # the stages whose first batch was checked

    def forward(self, source: torch.Tensor, source_lengths: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, V)."""
        return self.model(source, source_lengths, target_in)  # type: ignore[no-any-return]

    # -- training -------------------------------------------------------------------------------

    @property
    def coin_generator(self) -> torch.Generator:
        """The seeded generator of the teacher-forcing coins, on the model's device."""
        if self._generator is None or self._generator.device != self.device:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(int(self.hparams["seed"]))
            if self._pending_rng_state is not None:
                state, saved_on = self._pending_rng_state
                if saved_on == generator.device.type:
                    generator.set_state(state)
                else:
                    # A CPU (Mersenne Twister) and a CUDA (Philox) generator state do not convert into each
                    # other: the resumed run draws new coins, seeded by the seed and the step.
                    generator.manual_seed(int(self.hparams["seed"]) + self.global_step)
                    rank_zero_warn(
                        f"LitSeq2Seq: the teacher-forcing coins' random state was saved on {saved_on} and training "
                        f"resumes on {generator.device.type}; the coins are reseeded from seed + step, so the "
                        "resumed run does not draw the coins an uninterrupted run would have"
                    )
                self._pending_rng_state = None
            self._generator = generator
        return self._generator

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        target_in = batch["target_in"]
        ratio = float(self.teacher_forcing.ratio(self.global_step))
        loss, gold = self.model.loss(
            batch["source"], batch["source_lengths"], target_in, batch["target_out"],
            self.teacher_forcing, ratio, self.coin_generator,
        )  # fmt: skip
        b = target_in.size(0)
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        if is_logging_step(self.trainer):  # the loggers see no other step; each self.log costs ~1 ms of CPU
            self.log("train/tf_ratio", ratio, batch_size=b)
            self.log("train/fed_from_model", fed_from_model(gold, target_in), batch_size=b)
            if self.teacher_forcing.position_schedule != "none":
                applied = applied_ratio(gold_probability(self.teacher_forcing, ratio, target_in), target_in)
                self.log(f"train/{APPLIED_RATIO_METRIC}", applied, batch_size=b)
        return loss

    # -- validation and test --------------------------------------------------------------------

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch)

    def on_validation_epoch_start(self) -> None:
        self._reset_eval()

    def on_validation_epoch_end(self) -> None:
        self._log_eval("val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch)

    def on_test_epoch_start(self) -> None:
        self._reset_eval()

    def on_test_epoch_end(self) -> None:
        self._log_eval("test")

    def _reset_eval(self) -> None:
        self.eval_nll.reset()
        self._records = []

    def _evaluate(self, batch: Batch) -> None:
        """Teacher-forced NLL, and one greedy decode (each source given its ``length_budget``) whose
        records :func:`seq2seq_fit.scores.free_running_scores` scores at the end of the split."""
        source, lengths, target_out = batch["source"], batch["source_lengths"], batch["target_out"]
        encoded = self.model.encode(source, lengths)  # once, for the loss and the greedy decode
        logits = self.model(source, lengths, batch["target_in"], encoded=encoded)  # (B, T, V)
        self.eval_nll.update(masked_cross_entropy(logits, target_out), (target_out != PAD_ID).sum())
        budget = length_budget(int(lengths.max()))
        generated, _ = self.model.generate(source, lengths, max_length=budget, encoded=encoded)  # (B, L)
        self._records.extend(eval_records(source.cpu(), generated.cpu(), target_out.cpu()))

    def _log_eval(self, stage: str) -> None:
        if self.trainer.sanity_checking:
            self._reset_eval()
            return
        nll = self.eval_nll.compute()
        self.log(f"{stage}/loss", nll, sync_dist=False)
        self.log(f"{stage}/ppl", torch.exp(nll), sync_dist=False)
        scores = free_running_scores(gather_records(self._records), self.tgt_vocab, self.tgt_tokenizer)
        for name, value in scores.items():
            self.log(f"{stage}/{name}", value, sync_dist=False)
        self._reset_eval()

    # -- prediction -----------------------------------------------------------------------------

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """Greedy ids ``(B, 2 * S + 10)`` int64 on the CPU of ``batch["source"]`` ``(B, S)``: per batch, what
        ``Seq2SeqModel.predict`` returns, so ``trainer.predict`` gives a list of these tensors.

        The layout of :meth:`Seq2Seq.generate`: ``<bos>`` left out, each row's first ``<eos>`` kept and
        ``<pad>`` after it; ``tgt_vocab.decode(row)`` gives a row's tokens, and :meth:`translate`
        decodes text with any search.
        """
        generated, _ = self.model.generate(batch["source"], batch["source_lengths"])  # (B, 2 * S + 10)
        return generated.cpu()

    # -- the adapter of seq2seq_fit.pretrained.PretrainedSystem (translate, save_pretrained, export_onnx...) --

    def step_decoder(self) -> TorchStepDecoder:
        """:attr:`model` one token at a time for the core's search (eval mode, no gradients, in a ``with``)."""
        return TorchStepDecoder(self.model)

    def canonical_weights(self) -> dict[str, np.ndarray]:
        """``model.state_dict()`` as float32 numpy arrays (the canonical layout is PyTorch's)."""
        return canonical_weights(self.model)

    def load_canonical_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Copy canonical ``weights`` into :attr:`model`, keeping its device and dtype."""
        load_canonical_weights(self.model, weights)

    # -- optimisation, callbacks and checkpoints ------------------------------------------------

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = torch.optim.AdamW(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        warmup = int(hp["warmup_steps"])
        decay = int(hp.get("lr_decay_steps", 0))  # checkpoints from before lr_decay_steps lack it
        if warmup == 0 and decay == 0:
            return optimizer
        schedule = functools.partial(
            lr_factor, warmup_steps=warmup, decay_steps=decay, min_lr_ratio=float(hp.get("min_lr_ratio", 0.0))
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_callbacks(self) -> list[pl.Callback]:
        """:class:`TrainingThroughput` (``train/tokens_per_s``), unless the trainer has one (which is kept)."""
        callbacks = getattr(self._trainer, "callbacks", [])
        if any(isinstance(c, TrainingThroughput) for c in callbacks):
            return []
        return [TrainingThroughput()]

    def setup(self, stage: str) -> None:
        """Fail early when the data's vocabularies differ from the model's; make checkpoints safe.

        A trainer on Lightning's plain ``TorchCheckpointIO`` gets :class:`SafeCheckpointIO` instead
        (atomic saves, ``weights_only=True`` loads); a checkpoint IO chosen by the user is kept.
        """
        self._checked_stages = set()  # a new loop may bring new loaders: check their first batches
        if self._trainer is None:
            return
        strategy = self.trainer.strategy
        if type(strategy.checkpoint_io) is TorchCheckpointIO:
            strategy.checkpoint_io = SafeCheckpointIO()
        data = getattr(getattr(self.trainer, "datamodule", None), "data", None)
        if data is not None and hasattr(data, "check_vocabs"):
            data.check_vocabs(self.src_vocab, self.tgt_vocab)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Numpy arrays (``seq2seq_fit.collate_pairs``) become tensors; the first batch of each stage is checked."""
        batch = as_tensors(batch)
        running = self.trainer.state.stage if self._trainer is not None else None
        stage = str(running.value) if running is not None else "train"
        if stage not in self._checked_stages:
            step = STEP_OF_STAGE.get(stage, "training_step")
            check_first_batch(batch, f"LitSeq2Seq.{step}", targets=step != "predict_step")
            self._checked_stages.add(stage)
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """A Hugging Face batch becomes ours, with torch ops on the device."""
        return to_batch(batch)

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls,
        checkpoint_path: _PATH | IO[bytes],
        map_location: _MAP_LOCATION_TYPE = None,
        hparams_file: _PATH | None = None,
        strict: bool | None = None,
        weights_only: bool | None = True,
        **kwargs: Any,
    ) -> LitSeq2Seq:
        """Load a model from a checkpoint, refusing pickled Python objects unless told otherwise.

        Args:
            checkpoint_path: the ``.ckpt`` file (path or file object).
            map_location, hparams_file, strict: as in ``LightningModule.load_from_checkpoint``.
            weights_only: ``True`` (default; ``None`` means the same): only tensors and plain data
                are read, and a file holding pickled objects raises
                :class:`~seq2seq_fit.errors.UnsafeFileError`. ``False``: unpickle
                everything; only for files you trust.
            **kwargs: override stored hyper-parameters.

        Raises:
            ModelFormatError: the file is not a readable checkpoint (truncated, another file), its config
                asks for a model its weights do not fit or one over ``seq2seq_fit.limits.MAX_PARAMETERS``,
                a weight is NaN, infinite or not a floating-point tensor, or a stored hyper-parameter is
                refused by the constructor (naming the file); checked before the model is built
                (:func:`lit_seq2seq.checkpoint_io.check_checkpoint`).
            UnsafeFileError: the file holds pickled objects and ``weights_only`` is not ``False``.
        """
        safe = weights_only is not False
        check_checkpoint(checkpoint_path, weights_only=safe, strict=strict, overrides=kwargs)  # before building
        try:
            model = super().load_from_checkpoint(
                checkpoint_path, map_location, hparams_file, strict, weights_only=safe, **kwargs
            )
        except pickle.UnpicklingError as err:
            if not safe:
                raise
            raise refusal(checkpoint_path, err) from err
        except (ValueError, TypeError, RuntimeError) as err:  # a stored hyper-parameter refused, a corrupt member
            error = load_error(checkpoint_path, err, kwargs)
            if error is None:
                raise
            raise error from None
        return model  # type: ignore[no-any-return]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["coin_rng_state"] = self.coin_generator.get_state()
        checkpoint["coin_rng_device"] = self.coin_generator.device.type

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_rng_state(checkpoint, "checkpoint")
        state = checkpoint.get("coin_rng_state")
        if state is not None:
            self._pending_rng_state = (state.cpu(), str(checkpoint.get("coin_rng_device", self.device.type)))
            self._generator = None

    # ------------------------------------------------------------------------------- ONNX export

    def to_onnx(  # type: ignore[override]
        self, file_path: str | os.PathLike[str] | None = None, input_sample: Any = None, **kwargs: Any
    ) -> Path:
        """Lightning's ONNX entry point: write the project's ONNX export to the directory ``file_path``.

        The same files as :meth:`export_onnx` (an encoder and a one-step decoder graph that
        ``seq2seq_fit.serving.OnnxTranslator`` runs with greedy, beam or sampling search, and the
        model's JSON files), not Lightning's one traced graph of ``forward``, which holds teacher-forced
        logits and cannot decode; so no ``input_sample`` or ``example_input_array`` is needed.

        Args:
            file_path: the export directory (created if needed).
            input_sample: must be ``None`` (nothing is traced).
            **kwargs: none accepted (``torch.onnx.export``'s options do not apply).

        Returns:
            The export directory.

        Raises:
            ValueError: no directory, an ``input_sample`` or keyword arguments.

        Example:
            >>> import os, tempfile
            >>> tokens = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"]
            >>> lit = LitSeq2Seq(tokens, tokens, {"hidden_size": 8, "embedding_dim": 4})
            >>> directory = lit.to_onnx(tempfile.mkdtemp())
            >>> {"encoder.onnx", "decoder.onnx", "config.json"} <= set(os.listdir(directory))
            True
        """
        if not isinstance(file_path, (str, os.PathLike)):
            raise ValueError(
                f"LitSeq2Seq.to_onnx.file_path: got {file_path!r}, expected a directory (str or os.PathLike) for "
                "the encoder and decoder-step graphs of export_onnx"
            )
        if input_sample is not None or kwargs:
            given = ["input_sample"] * (input_sample is not None) + sorted(kwargs)
            raise ValueError(
                f"LitSeq2Seq.to_onnx: got {given}, expected only file_path (the graphs are built from the weights, "
                "not traced)"
            )
        return self.export_onnx(file_path)


#: The step that receives the batches of each of Lightning's running stages (``RunningStage`` values).
STEP_OF_STAGE = {
    "train": "training_step",
    "sanity_check": "validation_step",
    "validate": "validation_step",
    "test": "test_step",
    "predict": "predict_step",
}


def gather_records(records: list[Any]) -> list[Any]:
    """All ranks' evaluation records (this rank's alone outside distributed runs)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return records
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, records)
    return [r for part in gathered for r in part]


__all__ = ["LitSeq2Seq"]
