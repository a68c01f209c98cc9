"""``Seq2SeqModel``: the thin ``keras.Model`` system around the :class:`~keras_seq2seq.Seq2Seq` network.

It owns what is not the network: the teacher-forcing schedule at ``optimizer.iterations``, the
trackers, the dispatch to the per-backend steps of :mod:`keras_seq2seq.train_steps`, the
free-running evaluation, ``translate``, saving and loading.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import keras
from keras import ops
from keras_seq2seq import train_steps
from keras_seq2seq.batch import LoaderSequence, check_first_batch, is_torch_dataloader, to_batch
from keras_seq2seq.dynamic_dataset import dynamic_dataset
from keras_seq2seq.pretrained import canonical_weights, load_canonical_weights
from keras_seq2seq.scheduled_sampling import applied_ratio, fed_from_model, gold_probability
from keras_seq2seq.seq2seq import Seq2Seq, masked_cross_entropy
from keras_seq2seq.stream_position import StreamPosition
from keras_seq2seq.train_steps import num_replicas
from keras_seq2seq.transformer import Transformer, TransformerStepDecoder
from keras_seq2seq.translate import KerasStepDecoder
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.batch import check_batch
from seq2seq_fit.decoding import join_ids
from seq2seq_fit.pretrained import PretrainedSystem
from seq2seq_fit.scores import EvalRecord, eval_records, free_running_scores
from seq2seq_fit.teacher_forcing import APPLIED_RATIO_METRIC
from seq2seq_fit.vocab import PAD_ID, Vocab, check_same_vocab

EVAL_IDS = ("eval_source", "eval_hypotheses", "eval_targets")
"""Keys of the id tensors ``test_step`` adds to its logs (taken out again by ``make_test_function``)."""


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class Seq2SeqModel(PretrainedSystem, keras.Model):
    """RNN encoder-decoder with scheduled teacher forcing, trained by plain ``model.fit``.

    The network is :attr:`model` (a :class:`~keras_seq2seq.Seq2Seq`, or a
    :class:`~keras_seq2seq.transformer.Transformer` for ``config.architecture="transformer"``, as ``LitSeq2Seq.model``);
    this class is the system around it. ``train_step`` runs the scheduled sampling of ``teacher_forcing`` at step
    ``optimizer.iterations`` on TensorFlow, JAX (stateless) and torch; ``fit`` logs ``loss``,
    ``tf_ratio`` (the scheduled ratio) and ``fed_from_model`` (share of real decoder inputs that
    came from the model), and with a ``position_schedule`` ``tf_ratio_applied`` (the mean gold
    probability over the batch's decoder inputs). ``evaluate`` / validation log the names of
    :data:`seq2seq_fit.scores.EVAL_METRICS` (``val_loss``, ``val_ppl``, ``val_token_acc``,
    ``val_exact_match``, ``val_bleu``, ``val_wer``, ``val_per`` in ``fit``): the teacher-forced
    ``loss`` (mean NLL per target token over the whole split, no label smoothing) and ``ppl``, and
    the percentages of one greedy decode per batch, as ``LitSeq2Seq`` logs ``val/<name>``. The ``target_tokens``
    tracker counts the non-pad target tokens trained in the epoch without logging them (for
    :class:`~keras_seq2seq.callbacks.TrainingThroughput`). The config, teacher forcing,
    vocabularies, tokenizers and seed are plain data in ``get_config``, so ``.keras`` files load with
    ``safe_mode=True``.

    Around the network it has what ``LitSeq2Seq`` has, from :class:`seq2seq_fit.pretrained.PretrainedSystem`:
    ``translate`` (the options a :class:`~seq2seq_fit.GenerationConfig` and/or its fields as keywords),
    ``save_pretrained`` / ``from_pretrained`` (a model directory either system reads) and ``export_onnx``
    (also ``export(format="onnx")``). ``predict`` returns greedy ids, as ``LitSeq2Seq``'s ``predict_step``.

    Args:
        src_vocab: source vocabulary (``Vocab`` or its token list).
        tgt_vocab: target vocabulary (``Vocab`` or its token list).
        config: architecture (``Seq2SeqConfig`` or its dict; ``None`` for the defaults).
        teacher_forcing: schedule and mode (``TeacherForcing`` or its dict; ``None``: ratio 1).
        src_tokenizer, tgt_tokenizer: how text becomes each side's tokens and back, saved with the
            model and used by :meth:`translate`: ``None`` (whitespace), ``"chars"``, a
            ``tokenizer.json`` or sentencepiece ``.model`` path, a :class:`seq2seq_fit.tokenizer.Tokenizer`
            or its ``to_dict()`` (see :func:`seq2seq_fit.tokenizer.as_tokenizer`). A subword
            tokenizer's pieces must be the vocabulary (``src_vocab=tokenizer.vocab_tokens()``).
        seed: seed of the coin and dropout ``SeedGenerator`` s (saved with the model).
        **kwargs: passed to ``keras.Model`` (``name``, ``dtype``...).

    Example:
        >>> from datamodules import KerasData
        >>> data = KerasData("toy", batch_size=4)
        >>> model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(hidden_size=32, embedding_dim=16),
        ...                      TeacherForcing(schedule="linear", decay_steps=100), seed=0)
        >>> model.compile(optimizer="adam")
        >>> history = model.fit(data.train(), epochs=2, verbose=0)
        >>> sorted(history.history)
        ['fed_from_model', 'loss', 'tf_ratio']
        >>> import tempfile
        >>> from seq2seq_fit import GenerationConfig
        >>> model.save_pretrained(directory := tempfile.mkdtemp())
        >>> again, source = Seq2SeqModel.from_pretrained(directory), data.src_vocab.tokens[4:7]
        >>> beam = GenerationConfig(strategy="beam", beam_width=3)
        >>> again.seed, again.translate([source], beam) == model.translate([source], strategy="beam", beam_width=3)
        (0, True)
    """

    def __init__(
        self,
        src_vocab: Vocab | Sequence[str],
        tgt_vocab: Vocab | Sequence[str],
        config: Seq2SeqConfig | dict[str, Any] | None = None,
        teacher_forcing: TeacherForcing | dict[str, Any] | None = None,
        *,
        src_tokenizer: Any = None,  # a Tokenizer, its dict, a name or path (Any: LightningCLI cannot parse a Protocol)
        tgt_tokenizer: Any = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.init_system(
            "Seq2SeqModel", src_vocab, tgt_vocab, config, teacher_forcing, src_tokenizer, tgt_tokenizer, seed
        )
        network = Transformer if self.config.architecture == "transformer" else Seq2Seq
        self.model = network(
            self.config, len(self.src_vocab), len(self.tgt_vocab), seed=seed, dtype=self.dtype_policy, name="seq2seq"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.ratio_tracker = keras.metrics.Mean(name="tf_ratio")
        self.fed_tracker = keras.metrics.Mean(name="fed_from_model")
        self.target_tokens_tracker = keras.metrics.Sum(name="target_tokens")
        self.applied_tracker = (  # only with a position schedule: other models keep their logs and state
            None if self.teacher_forcing.position_schedule == "none" else keras.metrics.Mean(name=APPLIED_RATIO_METRIC)
        )
        self._eval_records: list[EvalRecord] | None = None  # filled by evaluate, one batch at a time
        self._checked_steps: frozenset[str] = frozenset()  # the steps whose first batch was checked
        self.build()

    def build(self, input_shape: Any = None) -> None:
        self.built = True  # the network builds itself

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        trackers = [self.loss_tracker, self.ratio_tracker, self.fed_tracker, self.target_tokens_tracker]
        return trackers if self.applied_tracker is None else [*trackers, self.applied_tracker]

    # --------------------------------------------------------------------------------- forward

    def call(self, inputs: dict[str, Any], training: bool = False) -> Any:
        """Teacher-forced logits for ``{"source": (B, S), "target_in": (B, T)}``.  # (B, T, V)"""
        return self.model(inputs["source"], inputs["target_in"], training=training)

    # -------------------------------------------------------------------------------- training

    def ratio(self, step: Any = None) -> Any:
        """Scheduled teacher-forcing ratio at ``step`` (default ``optimizer.iterations``), float32."""
        if step is None:
            step = self.optimizer.iterations if getattr(self, "optimizer", None) is not None else 0
        return ops.cast(
            self.teacher_forcing.ratio(ops.cast(step, "float32"), exp=ops.exp, maximum=ops.maximum), "float32"
        )

    def training_loss(self, x: dict[str, Any], y: Any) -> tuple[Any, dict[str, Any]]:
        """The network's training loss at the scheduled ratio, and the statistics the trackers log:
        ``tf_ratio``, ``fed_from_model`` and ``target_tokens`` (what every train step differentiates)."""
        batch = to_batch(x, y)  # (x, y), one dict of all four keys, or the Hugging Face layout
        ratio = self.ratio()
        target_in, y = batch["target_in"], batch["target_out"]
        loss, gold = self.model.loss(batch["source"], target_in, y, self.teacher_forcing, ratio, training=True)
        stats = {
            "tf_ratio": ratio,
            "fed_from_model": fed_from_model(gold, target_in),
            "target_tokens": ops.sum(ops.cast(ops.not_equal(y, PAD_ID), "float32")),
        }
        if self.applied_tracker is not None:
            probability = gold_probability(self.teacher_forcing, ratio, target_in)  # (T,)
            stats[APPLIED_RATIO_METRIC] = applied_ratio(probability, target_in)
        return loss, stats

    def train_metrics(self, loss: Any, stats: dict[str, Any]) -> dict[str, Any]:
        """Update the training trackers with one step's loss and statistics; returns the logs."""
        self.loss_tracker.update_state(loss)
        self.ratio_tracker.update_state(stats["tf_ratio"])
        self.fed_tracker.update_state(stats["fed_from_model"])
        self.target_tokens_tracker.update_state(stats["target_tokens"])  # read by TrainingThroughput, not logged
        logged = [self.loss_tracker, self.ratio_tracker, self.fed_tracker]
        if self.applied_tracker is not None:
            self.applied_tracker.update_state(stats[APPLIED_RATIO_METRIC])
            logged.append(self.applied_tracker)
        return {m.name: m.result() for m in logged}

    def train_step(self, *args: Any) -> Any:
        """One optimisation step (``train_step(data)``; ``train_step(state, data)`` on JAX), run by
        the backend's function in :mod:`keras_seq2seq.train_steps`."""
        self.check_first_batch(args[-1], "train_step")
        backend = keras.backend.backend()
        if backend == "jax":
            return train_steps.jax_train_step(self, *args)
        if backend == "tensorflow":
            return train_steps.tensorflow_train_step(self, *args)
        if backend == "torch":
            return train_steps.torch_train_step(self, *args)
        raise NotImplementedError(f"Seq2SeqModel.train_step: backend {backend!r} is not supported")

    # --------------------------------------------------------------------- validation and test

    def evaluation_stats(self, x: dict[str, Any], y: Any) -> dict[str, Any]:
        """Teacher-forced loss and one greedy decode of a batch.

        Returns ``loss`` (mean NLL per target token, no label smoothing), ``tokens`` (the batch's
        non-pad target tokens), and the ids that :func:`seq2seq_fit.scores.eval_records` turns
        into records on the host: ``source`` (B, S), ``hypotheses`` (B, 2 * S + 10), greedy,
        at least every row's :func:`~seq2seq_fit.decoding.length_budget`) and ``targets`` (B, T).
        """
        batch = to_batch(x, y)  # (x, y), one dict of all four keys, or the Hugging Face layout
        source, target_out = batch["source"], batch["target_out"]
        encoded = self.model.encode(source)  # once, for the loss and the greedy decode
        logits = self.model(source, batch["target_in"], encoded=encoded)  # (B, T, V)
        loss = masked_cross_entropy(logits, target_out)
        hypotheses, _ = self.model.generate(source, encoded=encoded)  # (B, 2 * S + 10): budget of the padded width
        tokens = ops.sum(ops.cast(ops.not_equal(target_out, PAD_ID), "float32"))
        return {"loss": loss, "tokens": tokens, "source": source, "hypotheses": hypotheses, "targets": target_out}

    def test_metrics(self, stats: dict[str, Any]) -> dict[str, Any]:
        """Update the loss tracker with one evaluation batch; returns the logs."""
        # Weighted by the batch's target tokens: the split's mean NLL per token, as LitSeq2Seq logs it.
        self.loss_tracker.update_state(stats["loss"], sample_weight=stats["tokens"])
        return {"loss": self.loss_tracker.result()}

    def with_ids(self, logs: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
        """``logs`` plus the batch's ids, which the wrapper of :meth:`make_test_function` takes out."""
        ids = [stats[k] for k in ("source", "hypotheses", "targets")]
        if num_replicas() > 1:  # every replica returns the whole batch, so the per-replica reduction keeps it
            import tensorflow as tf

            context = tf.distribute.get_replica_context()
            ids = [context.all_gather(a, axis=0) for a in ids]
        return {**logs, **dict(zip(EVAL_IDS, ids, strict=True))}

    def test_step(self, *args: Any) -> Any:
        self.check_first_batch(args[-1], "test_step")
        if keras.backend.backend() == "jax":
            return train_steps.jax_test_step(self, *args)
        x, y, _ = keras.utils.unpack_x_y_sample_weight(args[0])
        stats = self.evaluation_stats(x, y)
        return self.with_ids(self.test_metrics(stats), stats)

    def make_test_function(self, force: bool = False) -> Any:
        """Keras' test function, wrapped to move each batch's greedy ids out of its logs onto the host.

        The ids become :class:`~seq2seq_fit.scores.EvalRecord` s while :meth:`evaluate` runs (also
        inside ``fit``); callbacks and the progress bar see only ``loss``.
        """
        existing: Any = self.test_function  # type: ignore[has-type]  # set by keras.Model
        if existing is not None and not force:
            return existing
        if self.steps_per_execution != 1:
            raise ValueError(
                f"Seq2SeqModel.evaluate: compiled with steps_per_execution={self.steps_per_execution}, expected 1; "
                "the free-running scores need the greedy output of every batch (compile with steps_per_execution=1)"
            )
        super().make_test_function(force)
        step: Any = self.test_function  # type: ignore[has-type]

        def test_function(*args: Any) -> Any:
            out = step(*args)
            logs = out[0] if isinstance(out, tuple) else out  # JAX returns (logs, state)
            ids = [ops.convert_to_numpy(logs.pop(k)) for k in EVAL_IDS]
            if self._eval_records is not None:
                self._eval_records.extend(eval_records(*ids))
            return out

        self.test_function = test_function
        return test_function

    def _get_metrics_result_or_logs(self, logs: Any) -> Any:
        # Keras calls this once at the end of evaluate (and of each training epoch), before on_test_end.
        if self._eval_records is None:
            return super()._get_metrics_result_or_logs(logs)
        records, self._eval_records = self._eval_records, None
        loss = float(ops.convert_to_numpy(self.loss_tracker.result()))
        ppl = math.exp(loss) if loss < 700.0 else math.inf
        return {"loss": loss, "ppl": ppl, **free_running_scores(records, self.tgt_vocab, self.tgt_tokenizer)}

    # ------------------------------------------------------------------------------ prediction

    def predict_step(self, *args: Any) -> Any:
        """Greedy ids ``(B, 2 * S + 10)`` int32 of ``x["source"]`` ``(B, S)`` (or ``x`` itself, or ``x["input_ids"]``):
        per batch what ``LitSeq2Seq.predict_step`` returns, so ``predict`` gives a numpy array of them.

        The layout of :meth:`Seq2Seq.generate`: ``<bos>`` left out, each row's first ``<eos>`` kept and
        ``<pad>`` after it; ``tgt_vocab.decode(row)`` gives a row's tokens, and :meth:`translate`
        decodes text with any search.
        """
        self.check_first_batch(args[-1], "predict_step", targets=False)
        if keras.backend.backend() == "jax":
            return train_steps.jax_predict_step(self, *args)
        return self.predict_outputs(args[0])

    def predict_outputs(self, data: Any) -> Any:
        """What ``predict`` returns for one batch: the greedy ids of :meth:`Seq2Seq.generate`."""
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.model.generate(to_batch(x)["source"])[0]

    # ----------------------------------------------------------------------------------- loops

    def check_first_batch(self, data: Any, step: str, targets: bool = True) -> None:
        """Check the keys, dtypes and ranks of the first batch a step gets in a ``fit``, ``evaluate`` or
        ``predict`` (:func:`seq2seq_fit.check_batch`): a wrong batch is one ``InputError`` naming the key.

        Compiled steps run it once, while tracing; eager steps (torch) skip it after the first batch.
        """
        if step not in self._checked_steps:
            check_first_batch(data, f"Seq2SeqModel.{step}", targets)
            self._checked_steps = self._checked_steps | {step}

    def keras_input(self, data: Any, y: Any = None, where: str = "fit", targets: bool = True) -> Any:
        """``data`` as Keras' adapters should see it: a torch ``DataLoader`` on TensorFlow or JAX becomes a
        :class:`~keras_seq2seq.batch.LoaderSequence` (Keras' adapter would drop a dict batch's keys), a
        ``PyDataset`` on TensorFlow a :func:`dynamic_dataset`; a dict of numpy arrays is checked, values included."""
        if isinstance(data, dict) and all(isinstance(v, np.ndarray) for v in data.values()):
            arrays = {**data, "target_out": y} if isinstance(y, np.ndarray) else data
            check_batch(arrays, f"Seq2SeqModel.{where}", targets=targets, lengths=False)
        if is_torch_dataloader(data) and keras.backend.backend() != "torch":
            data = LoaderSequence(data)
        return dynamic_dataset(data)

    def check_data(self, data: Any) -> None:
        """Raise ``ValueError`` when ``data`` (a ``KerasData`` or ``BatchSequence``) was encoded with
        other vocabularies than the model's: its ids would mean other tokens."""
        for kind, side in (("source", "src_vocab"), ("target", "tgt_vocab")):
            theirs = getattr(data, side, None)
            if theirs is not None:
                check_same_vocab(kind, getattr(self, side), theirs)

    def fit(self, x: Any = None, y: Any = None, *args: Any, validation_data: Any = None, **kwargs: Any) -> Any:
        """``keras.Model.fit``; a ``PyDataset`` on TensorFlow goes through :func:`dynamic_dataset`.

        ``x`` may be ``(x, y)`` batches as ``datamodules.KerasData`` makes them, or batches of
        ``seq2seq_fit.Batch`` dicts or of the Hugging Face layout (``input_ids``, ``attention_mask``,
        ``labels`` padded with -100), with no ``y``: a dict of numpy arrays, a ``tf.data.Dataset``, a
        ``keras.utils.PyDataset`` or a torch ``DataLoader`` (``collate_fn=seq2seq_fit.collate_pairs``),
        on every backend. The first batch of each step is checked (:meth:`check_first_batch`).

        A :class:`~datamodules.keras.BatchSequence` is checked against the model's vocabularies and
        follows ``optimizer.iterations`` (:class:`StreamPosition`), so a run resumed by
        ``BackupAndRestore`` mid-epoch trains on the batches an uninterrupted run would have.
        """
        for data in (x, validation_data):
            if hasattr(data, "src_vocab"):
                self.check_data(data)
        if hasattr(x, "seek"):
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), StreamPosition(x)]
        self._checked_steps = frozenset()  # new data: check the first batch of each step again
        adapted = self.keras_input(x, y)
        if adapted is not x:
            kwargs.setdefault("shuffle", False)  # the PyDataset (or DataLoader) orders its own batches
        if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
            validation = (self.keras_input(validation_data[0], validation_data[1], "evaluate"), validation_data[1])
        else:
            validation = self.keras_input(validation_data, where="evaluate")
        return super().fit(adapted, y, *args, validation_data=validation, **kwargs)

    def evaluate(self, x: Any = None, *args: Any, **kwargs: Any) -> Any:
        """``keras.Model.evaluate`` (also run by ``fit`` for ``validation_data``), logging the names of
        :data:`seq2seq_fit.scores.EVAL_METRICS`: ``loss``, ``ppl``, and the free-running
        ``token_acc``, ``exact_match``, ``bleu``, ``wer``, ``per`` (percent) of the one greedy decode
        of ``test_step``, scored on the host by :func:`seq2seq_fit.scores.free_running_scores` at the
        end of the split, before ``on_test_end`` and the epoch's callbacks read them.
        """
        self._eval_records = []
        try:
            if not kwargs.get("_use_cached_eval_dataset"):  # a new evaluate, not fit's validation
                self._checked_steps = self._checked_steps - {"test_step"}
            data = self.keras_input(x, args[0] if args else kwargs.get("y"), "evaluate")
            return super().evaluate(data, *args, **kwargs)
        finally:
            self._eval_records = None

    def predict(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """``keras.Model.predict``: the greedy ids of :meth:`predict_step`, one row per source, for the inputs
        ``fit`` takes (without targets). Batches of different source widths (so different budgets) are
        joined right-padded with ``<pad>`` (:func:`seq2seq_fit.decoding.join_ids`), on every backend."""
        self._checked_steps = self._checked_steps - {"predict_step"}
        batches = PredictedBatches()
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), batches]
        data = self.keras_input(x, where="predict", targets=False)
        try:
            ids = super().predict(data, *args, **kwargs)
        except ValueError:  # torch and JAX cannot concatenate batches of different widths
            if len({batch.shape[1:] for batch in batches.outputs}) < 2:
                raise
            ids = None
        return ids if isinstance(ids, np.ndarray) else join_ids(batches.outputs)  # TensorFlow: a RaggedTensor

    # -- the adapter of seq2seq_fit.pretrained.PretrainedSystem (translate, save_pretrained, export_onnx...) --

    def step_decoder(self) -> KerasStepDecoder:
        """:attr:`model` one token at a time for the core's search (no gradients, in a ``with``); a Transformer's
        step carries its key/value cache."""
        if isinstance(self.model, Transformer):
            return TransformerStepDecoder(self.model)
        return KerasStepDecoder(self.model)

    def canonical_weights(self) -> dict[str, np.ndarray]:
        """The network's weights in the canonical layout (an LSTM's one Keras bias becomes ``bias_ih``,
        ``bias_hh = 0``)."""
        return canonical_weights(self.model)

    def load_canonical_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Copy canonical ``weights`` into :attr:`model` (an LSTM's ``bias_ih + bias_hh`` into its one bias)."""
        load_canonical_weights(self.model, weights)

    # --------------------------------------------------------------------------- serialisation

    def seed_states(self) -> list[keras.Variable]:
        """State variables of every ``SeedGenerator`` (coins and dropout), in a fixed order."""
        return [v for v in self.non_trainable_variables if v.name == "seed_generator_state"]

    def save_own_variables(self, store: Any) -> None:
        # Keras does not save SeedGenerator states; store them so a resumed fit draws new coins.
        super().save_own_variables(store)
        for i, state in enumerate(self.seed_states()):
            store[f"seed_state_{i}"] = state

    def load_own_variables(self, store: Any) -> None:
        states = self.seed_states()
        saved = [key for key in store.keys() if key.startswith("seed_state_")]  # noqa: SIM118 (not a dict)
        if saved and len(saved) != len(states):
            raise ValueError(
                f"Seq2SeqModel: the file holds {len(saved)} random-generator states, this model has {len(states)}"
            )
        for i, state in enumerate(states[: len(saved)]):
            state.assign(store[f"seed_state_{i}"])

    def get_config(self) -> dict[str, Any]:
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
        }
        config.update(
            {
                "config": self.config.to_dict(),
                "teacher_forcing": self.teacher_forcing.to_dict(),
                "src_vocab": self.src_vocab.tokens,
                "tgt_vocab": self.tgt_vocab.tokens,
                "src_tokenizer": self.src_tokenizer.to_dict(),
                "tgt_tokenizer": self.tgt_tokenizer.to_dict(),
                "seed": self.seed,
                # The backend it was trained on: keras-seq2seq translate/export prefer it when KERAS_BACKEND is unset.
                "backend": keras.backend.backend(),
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Seq2SeqModel:
        config = dict(config)
        config.pop("backend", None)  # where it was trained: information, not an argument
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)

    def export(
        self,
        filepath: str | os.PathLike[str],
        format: str = "tf_saved_model",
        verbose: bool | None = None,
        input_signature: Any = None,
        **kwargs: Any,
    ) -> None:
        """Write a TensorFlow SavedModel that decodes greedily, or the ONNX export (``keras.Model.export``'s signature).

        ``format="onnx"`` writes, on every backend, what :meth:`export_onnx` writes to the directory
        ``filepath`` (an encoder and a one-step decoder graph that ``seq2seq_fit.serving.OnnxTranslator``
        runs with greedy, beam or sampling search); Keras' own ONNX export would trace ``call``
        (teacher-forced logits), which cannot decode.

        Keras' own ``export`` would trace ``call`` (teacher-forced logits from source and target);
        this one's endpoint ``serve``, also the ``serving_default`` signature (output
        ``output_0``), maps right-padded source ids ``(B, S)`` int (``<pad>`` = 0) to the greedy ids
        ``(B, L)`` int32 of :meth:`Seq2Seq.generate` with the budget ``2 * S + 10``: ``<bos>`` left
        out, each row's first ``<eos>`` kept and ``<pad>`` after it, columns that are ``<pad>`` in
        every row dropped (``L`` = the longest row, at most ``2 * S + 10``). For a batch of
        equal-length sources this is what ``translate(sources)`` decodes; a shorter source in a
        wider batch gets the batch's budget instead of its own. The vocabularies go with it (string
        variables ``src_vocab`` / ``tgt_vocab``, and ``assets.extra/vocab.json`` and ``config.json``).
        The artifact loads with ``tf.saved_model.load`` alone (no Keras, no ``keras_seq2seq``); see
        :mod:`keras_seq2seq.saved_model` and docs/keras.md. TensorFlow backend only;
        :meth:`export_onnx` works on every backend and serves beam search and sampling too.

        Args:
            filepath: the SavedModel directory.
            format: ``"tf_saved_model"`` or ``"onnx"`` (any other raises ``ValueError``).
            verbose: print the endpoints; ``None``: ``True``, as Keras.
            input_signature: ``None`` (any ``(B, S)``, int32), or one rank-2 integer spec (``keras.InputSpec``,
                ``tf.TensorSpec``), alone or in a list.
            **kwargs: none accepted (Keras' ``is_static`` / ``jax2tf_kwargs`` are for JAX).

        Raises:
            ValueError: another backend or format, an unknown keyword, a bad path or spec.
        """
        from keras_seq2seq.saved_model import check_onnx_args, export_saved_model

        if format == "onnx":
            check_onnx_args(filepath, input_signature, kwargs)
            self.export_onnx(filepath)
            if verbose is None or verbose:
                print(f"Saved artifact at '{os.fspath(filepath)}' (the ONNX export of Seq2SeqModel.export_onnx).")
            return
        export_saved_model(self, filepath, format, verbose, input_signature, **kwargs)


class PredictedBatches(keras.callbacks.Callback):
    """The ids of each batch of a ``predict`` as numpy arrays, for joining batches of different widths."""

    def __init__(self) -> None:
        super().__init__()
        self.outputs: list[np.ndarray] = []

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        outputs = (logs or {})["outputs"]
        if hasattr(outputs, "detach"):  # torch: keras' convert_to_numpy warns under NumPy 2 on every call
            outputs = outputs.detach().cpu()
        self.outputs.append(np.asarray(outputs))
