"""``LitSeq2Seq``: the thin LightningModule that trains a :class:`Seq2Seq` with scheduled teacher forcing."""

from __future__ import annotations

import functools
import math
import pickle
from collections.abc import Callable, Sequence
from typing import IO, Any

import lightning.pytorch as pl
import torch
import torch.distributed as dist
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.types import _MAP_LOCATION_TYPE, _PATH
from torchmetrics import MeanMetric
from torchmetrics.functional.text import bleu_score

from datamodules.vocab import PAD_ID, Vocab, as_vocab
from lit_seq2seq.callbacks import TrainingThroughput, is_logging_step
from lit_seq2seq.checkpoint_io import SafeCheckpointIO, refusal
from lit_seq2seq.model import Seq2Seq, masked_cross_entropy
from lit_seq2seq.scheduled_sampling import draw_gold, fed_from_model
from lit_seq2seq.translate import Source, translate
from seq2seq_fit import Seq2SeqConfig, TeacherForcing, check_compatible, check_lr_schedule, g2p_scores, lr_factor
from seq2seq_fit.config import check_bool, check_float, check_int

Batch = dict[str, torch.Tensor]


def as_config(value: Seq2SeqConfig | dict[str, Any] | None) -> Seq2SeqConfig:
    """A :class:`Seq2SeqConfig` from itself, its dict, or ``None`` (defaults)."""
    if value is None:
        return Seq2SeqConfig()
    return value if isinstance(value, Seq2SeqConfig) else Seq2SeqConfig.from_dict(dict(value))


def as_teacher_forcing(value: TeacherForcing | dict[str, Any] | None) -> TeacherForcing:
    """A :class:`TeacherForcing` from itself, its dict, or ``None`` (always teacher forcing)."""
    if value is None:
        return TeacherForcing()
    return value if isinstance(value, TeacherForcing) else TeacherForcing.from_dict(dict(value))


def fit_length(tokens: torch.Tensor, length: int) -> torch.Tensor:
    """Cut or right-pad generated ids (B, L) to (B, ``length``) with ``<pad>``."""
    if tokens.size(1) >= length:
        return tokens[:, :length]
    return torch.nn.functional.pad(tokens, (0, length - tokens.size(1)), value=PAD_ID)


class LitSeq2Seq(pl.LightningModule):
    """Trains an RNN encoder-decoder with scheduled teacher forcing under ``Trainer.fit``.

    The teacher-forcing ratio is ``teacher_forcing.ratio(trainer.global_step)``. The coins come
    from a seeded generator on the model's device whose state is saved in checkpoints, so a
    resumed run makes the same decisions. Hyper-parameters are stored as plain data (dicts and
    token lists), so ``LitSeq2Seq.load_from_checkpoint(path)`` works with ``weights_only=True``.

    Logged: ``train/loss`` every step; ``train/tf_ratio`` (scheduled), ``train/fed_from_model``
    (actual) and ``train/tokens_per_s`` (target tokens per second, from the
    :class:`TrainingThroughput` callback the module adds unless the trainer has one) on the steps
    the loggers write (every ``log_every_n_steps``: each ``self.log`` costs the trainer CPU time,
    and values of other steps never reach a logger); for validation and test,
    teacher-forced ``loss`` and ``ppl``, and free-running greedy ``token_acc``, ``exact_match`` (a
    source is right if it matches any of its references), ``bleu``, ``wer`` and ``per`` (percent,
    multi-reference).

    Args:
        src_vocab: source vocabulary (``Vocab`` or its token list).
        tgt_vocab: target vocabulary (``Vocab`` or its token list).
        config: architecture (``Seq2SeqConfig`` or its dict; ``None`` for the defaults).
        teacher_forcing: schedule and mode (``TeacherForcing`` or its dict; ``None``: ratio 1).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear learning-rate warm-up over this many steps (0: none).
        lr_decay_steps: after the warm-up, cosine-decay the learning rate over this many steps
            (0: keep it constant); ``seq2seq_fit.lr_factor`` gives the schedule, the same as
            ``keras_seq2seq.WarmupCosineDecay``.
        min_lr_ratio: learning rate at the end of the decay, as a fraction of ``lr``.
        seed: seed of the teacher-forcing coins.
        compile: ``torch.compile`` the whole-sequence decoder (``luong``/``none`` only, where the
            teacher-forced and parallel passes are single RNN calls).

    Example:
        >>> from datamodules import Seq2SeqDataModule
        >>> dm = Seq2SeqDataModule("toy", batch_size=4)
        >>> model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, {"hidden_size": 32, "embedding_dim": 16})
        >>> pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False,
        ...            enable_progress_bar=False, enable_model_summary=False).fit(model, dm)  # doctest: +SKIP
    """

    def __init__(
        self,
        src_vocab: Vocab | list[str],
        tgt_vocab: Vocab | list[str],
        config: Seq2SeqConfig | dict[str, Any] | None = None,
        teacher_forcing: TeacherForcing | dict[str, Any] | None = None,
        *,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        lr_decay_steps: int = 0,
        min_lr_ratio: float = 0.0,
        seed: int = 0,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.src_vocab = as_vocab(src_vocab)
        self.tgt_vocab = as_vocab(tgt_vocab)
        self.config = as_config(config)
        self.teacher_forcing = as_teacher_forcing(teacher_forcing)
        check_compatible(self.config, self.teacher_forcing)
        check_float("LitSeq2Seq", "lr", lr, 0.0, math.inf, low_open=True, high_open=True)
        check_float("LitSeq2Seq", "weight_decay", weight_decay, 0.0, math.inf, high_open=True)
        check_lr_schedule("LitSeq2Seq", warmup_steps, lr_decay_steps, min_lr_ratio)
        check_int("LitSeq2Seq", "seed", seed, 0)
        check_bool("LitSeq2Seq", "compile", compile)
        self.save_hyperparameters(
            {
                "src_vocab": self.src_vocab.tokens,
                "tgt_vocab": self.tgt_vocab.tokens,
                "config": self.config.to_dict(),
                "teacher_forcing": self.teacher_forcing.to_dict(),
                "lr": float(lr),
                "weight_decay": float(weight_decay),
                "warmup_steps": int(warmup_steps),
                "lr_decay_steps": int(lr_decay_steps),
                "min_lr_ratio": float(min_lr_ratio),
                "seed": int(seed),
                "compile": bool(compile),
            }
        )
        self.model = Seq2Seq(self.config, len(self.src_vocab), len(self.tgt_vocab))
        if compile and not self.model.decoder.steps_one_at_a_time:
            self.model.decoder.compile()
        self.eval_nll = MeanMetric()
        self.eval_token_acc = MeanMetric()
        self._records: list[tuple[tuple[int, ...], list[str], list[str]]] = []
        self._generator: torch.Generator | None = None
        self._pending_rng_state: torch.Tensor | None = None

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
                generator.set_state(self._pending_rng_state)
                self._pending_rng_state = None
            self._generator = generator
        return self._generator

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        tf = self.teacher_forcing
        target_in = batch["target_in"]
        ratio = float(tf.ratio(self.global_step))
        generator = self.coin_generator
        gold = draw_gold(target_in, ratio, tf.granularity, generator)  # (B, T)
        logits = self.model.scheduled_forward(
            batch["source"], batch["source_lengths"], target_in, gold, tf, ratio, generator
        )  # (B, T, V)
        loss = masked_cross_entropy(logits, batch["target_out"], self.config.label_smoothing)
        b = target_in.size(0)
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        if is_logging_step(self.trainer):  # the loggers see no other step; each self.log costs ~1 ms of CPU
            self.log("train/tf_ratio", ratio, batch_size=b)
            self.log("train/fed_from_model", fed_from_model(gold, target_in), batch_size=b)
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
        self.eval_token_acc.reset()
        self._records = []

    def _evaluate(self, batch: Batch) -> None:
        source, lengths, target_out = batch["source"], batch["source_lengths"], batch["target_out"]
        valid = target_out != PAD_ID  # (B, T)
        n_tokens = valid.sum()
        logits = self.model(source, lengths, batch["target_in"])  # (B, T, V)
        self.eval_nll.update(masked_cross_entropy(logits, target_out), n_tokens)
        t = target_out.size(1)
        generated, _ = self.model.generate(source, lengths, strategy="greedy", max_length=t + 5)
        predicted = fit_length(generated, t)  # (B, T)
        correct = ((predicted == target_out) & valid).sum()
        self.eval_token_acc.update(correct / n_tokens.clamp(min=1), n_tokens)
        for src, hyp, ref, n in zip(
            source.tolist(), generated.tolist(), target_out.tolist(), lengths.tolist(), strict=True
        ):
            self._records.append((tuple(src[:n]), self.tgt_vocab.decode(hyp), self.tgt_vocab.decode(ref)))

    def _log_eval(self, stage: str) -> None:
        if self.trainer.sanity_checking:
            self._reset_eval()
            return
        nll = self.eval_nll.compute()
        self.log(f"{stage}/loss", nll, sync_dist=False)
        self.log(f"{stage}/ppl", torch.exp(nll), sync_dist=False)
        self.log(f"{stage}/token_acc", self.eval_token_acc.compute(), sync_dist=False)
        for name, value in self.free_running_scores(gather_records(self._records)).items():
            self.log(f"{stage}/{name}", value, sync_dist=False)
        self._reset_eval()

    @staticmethod
    def free_running_scores(records: Sequence[tuple[tuple[int, ...], list[str], list[str]]]) -> dict[str, float]:
        """``exact_match``, ``bleu``, ``wer``, ``per`` over sources, each scored against all its references."""
        hyps: dict[tuple[int, ...], list[str]] = {}
        refs: dict[tuple[int, ...], list[list[str]]] = {}
        for key, hyp, ref in records:
            hyps.setdefault(key, hyp)
            if ref not in refs.setdefault(key, []):
                refs[key].append(ref)
        if not hyps:
            return {}
        keys = list(hyps)
        scores = g2p_scores([hyps[k] for k in keys], [refs[k] for k in keys])
        bleu = bleu_score([" ".join(hyps[k]) for k in keys], [[" ".join(r) for r in refs[k]] for k in keys])
        return {
            "exact_match": 1.0 - scores.word_errors / scores.words,
            "bleu": float(bleu),
            "wer": scores.wer,
            "per": scores.per,
        }

    # -- prediction -----------------------------------------------------------------------------

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> list[list[str]]:
        """Greedy decoding of ``batch["source"]``, as target token lists."""
        generated, _ = self.model.generate(batch["source"], batch["source_lengths"], strategy="greedy")
        return [self.tgt_vocab.decode(row) for row in generated.tolist()]

    def translate(
        self,
        sources: Sequence[Source],
        strategy: str = "greedy",
        beam_width: int = 5,
        length_penalty: float = 0.0,
        temperature: float = 1.0,
        top_k: int | None = None,
        max_length: int | None = None,
        return_attention: bool = False,
        tokenizer: str | Callable[[str], list[str]] = "whitespace",
        batch_size: int = 128,
        seed: int | None = None,
    ) -> list[list[str]] | tuple[list[list[str]], list[torch.Tensor]]:
        """Decode strings or token lists; see :func:`lit_seq2seq.translate.translate`.

        Example:
            >>> model.translate(["I feel hungry"], strategy="beam", beam_width=3)  # doctest: +SKIP
            [['나는', '배가', '고프다']]
        """
        return translate(
            self.model,
            self.src_vocab,
            self.tgt_vocab,
            sources,
            strategy=strategy,
            beam_width=beam_width,
            length_penalty=length_penalty,
            temperature=temperature,
            top_k=top_k,
            max_length=max_length,
            return_attention=return_attention,
            tokenizer=tokenizer,
            batch_size=batch_size,
            seed=seed,
        )

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
        if self._trainer is None:
            return
        strategy = self.trainer.strategy
        if type(strategy.checkpoint_io) is TorchCheckpointIO:
            strategy.checkpoint_io = SafeCheckpointIO()
        data = getattr(getattr(self.trainer, "datamodule", None), "data", None)
        if data is not None and hasattr(data, "check_vocabs"):
            data.check_vocabs(self.src_vocab, self.tgt_vocab)

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
                :class:`~lit_seq2seq.checkpoint_io.UnsafeCheckpointError`. ``False``: unpickle
                everything; only for files you trust.
            **kwargs: override stored hyper-parameters.
        """
        safe = weights_only is not False
        try:
            model = super().load_from_checkpoint(
                checkpoint_path, map_location, hparams_file, strict, weights_only=safe, **kwargs
            )
        except pickle.UnpicklingError as err:
            if not safe:
                raise
            raise refusal(checkpoint_path, err) from err
        return model  # type: ignore[no-any-return]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["coin_rng_state"] = self.coin_generator.get_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("coin_rng_state")
        if state is not None:
            self._pending_rng_state = state.cpu()
            self._generator = None


def gather_records(records: list[Any]) -> list[Any]:
    """All ranks' evaluation records (this rank's alone outside distributed runs)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return records
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, records)
    return [r for part in gathered for r in part]


__all__ = ["LitSeq2Seq", "as_config", "as_teacher_forcing"]
