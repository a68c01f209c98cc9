"""When scheduled sampling pays: teacher forcing against scheduled-sampling arms per regime, several seeds each.

A regime is a recipe, ``benchmarks/configs/ss-*.yaml``, trained under each arm (:data:`ARMS`) and seed by the shipped
``lit-seq2seq fit`` and scored on the test split. Study ``cpu`` (``make bench-ss``): from scratch at a short budget
(``sort``, ``addition``, CMUdict ``g2p``), scored free running, teacher forced and their gap. Study ``regimes``
(``make bench-ss-regimes``): ``finetune`` (``--base``, a converged teacher-forced CMUdict model), then phrase-level
G2P with 30-80 output tokens from scratch and as a fine-tune, scored greedy and beam 5, by word and by output
position. Per arm: mean ± sd over the seeds and the difference from teacher forcing with a 95% t-interval.

Each run is a job of ``benchmarks.common.run_jobs`` (result ``<results>/ss_<study>_runs/<regime>/<arm>_s<seed>.json``
beside the fit command's run folder). The same command again resumes: finished runs are read, an unfinished one
reruns its ``fit``, which resumes from its last checkpoint. Options after ``--`` go to every ``fit``.

    python -m benchmarks.ss_study cpu --regimes sort --cpus 0
    python -m benchmarks.ss_study regimes --regimes long-scratch long-finetune --arms ss-position ss-token
    python -m benchmarks.ss_study regimes --smoke --results /tmp/ss   # tiny models and corpora, every code path
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.g2p import curve, fit_seconds, score
from seq2seq_fit import TeacherForcing
from seq2seq_fit.atomic_file import atomic_write_path

CONTROL = "teacher-forcing"
#: Arm -> (label, its settings beyond the study's linear decay; ``None``: teacher forcing throughout).
#: ``ss-linear`` and ``ss-token`` are the same arm under the run-file names of the two studies.
ARMS: dict[str, tuple[str, dict[str, Any] | None]] = {
    CONTROL: ("teacher forcing (control)", None),
    "ss-linear": ("SS sequential, linear", {}),
    "ss-token": ("SS sequential, token coins, argmax feed", {}),
    "ss-inverse-sigmoid": ("SS sequential, inverse sigmoid", {"schedule": "inverse_sigmoid"}),
    "ss-sample": ("SS sequential, sample feed", {"feed": "sample"}),
    "ss-sequence": ("SS sequential, one coin per sequence", {"granularity": "sequence"}),
    "ss-parallel-k1": ("SS parallel K=1", {"mode": "parallel", "passes": 1}),
    "ss-parallel-k2": ("SS parallel K=2", {"mode": "parallel", "passes": 2}),
    # Liu et al. 2021: the step schedule falls to 0 and the gold-token probability at output position t is
    # f(t * (1 - eps(step))), f(t) = k / (k + exp(t / k)): 0.95 at t = 0, 0.73 at 40, 0.27 at 80 once decayed
    "ss-position": ("SS sequential, decoding-position schedule (sigmoid)",
                    {"end": 0.0, "position_schedule": "sigmoid", "position_k": 20.0}),
}  # fmt: skip


@dataclass(frozen=True)
class Study:
    """A study: its arms, where their gold-token probability ends (``end``) after ``decay_fraction`` of a run, and
    its regimes (in report order)."""

    title: str
    arms: tuple[str, ...]
    end: float
    decay_fraction: float
    regimes: tuple[str, ...]


STUDIES = {
    "cpu": Study("When scheduled sampling helps: from scratch at a short budget",
                 (CONTROL, "ss-linear", "ss-inverse-sigmoid", "ss-sample", "ss-sequence", "ss-parallel-k1",
                  "ss-parallel-k2"), 0.5, 0.75, ("sort", "addition", "g2p")),
    "regimes": Study("When scheduled sampling pays: fine-tuning and long outputs",
                     (CONTROL, "ss-token", "ss-parallel-k1", "ss-position", "ss-sample"), 0.75, 0.5,
                     ("finetune", "long-scratch", "long-finetune")),
}  # fmt: skip


@dataclass(frozen=True)
class Regime:
    """A regime: its recipe (a fit config and the ``options`` given after it), its ``scorer`` (``test``: free
    running and teacher forced; ``beam``: greedy and beam 5; ``phrases``: also per word and per output position),
    the scores ``compared`` with the control and those only ``shown``; ``base``: the model every seed fine-tunes
    (``--base``, or a regime whose control seed 0 gives it), which pairs the differences by seed; ``best_of``: the
    regime whose two best arms it trains by default."""

    config: str
    title: str
    scorer: str
    compared: tuple[str, ...]
    shown: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    base: str | None = None
    best_of: str | None = None


TF_SCORES = ("token_acc", "tf_token_acc", "gap", "tf_loss")
BEAM_SCORES = ("greedy_wer", "greedy_per", "beam5_wer", "beam5_per")
PHRASE_SCORES = (*BEAM_SCORES, "greedy_word_er")
REGIMES = {
    "sort": Regime("ss-sort.yaml", "sort: 20-40 letters of 10 (targets 20-40 tokens), from scratch", "test",
                   ("exact_match",), TF_SCORES, {"data.corpus_options": {"seed": 0, "min_len": 20, "max_len": 40,
                   "num_symbols": 10, "n_train": 20000, "n_val": 200, "n_test": 1000}}),
    "addition": Regime("ss-addition.yaml", "addition: a+b, operands of 20-30 digits (targets 20-31 tokens), from "
                       "scratch", "test", ("exact_match",), TF_SCORES, {"data.corpus_options": {"seed": 0,
                       "min_digits": 20, "max_digits": 30, "n_train": 20000, "n_val": 200, "n_test": 1000}}),
    "g2p": Regime("ss-g2p.yaml", "CMUdict G2P, preset cpu, from scratch", "test", ("wer", "per"), TF_SCORES),
    "finetune": Regime("ss-finetune.yaml", "Fine-tuning a converged teacher-forced CMUdict G2P model", "beam",
                       BEAM_SCORES, base="--base"),
    "long-scratch": Regime("ss-phrases.yaml", "Long outputs (cmudict-phrases), trained from scratch", "phrases",
                           PHRASE_SCORES, best_of="finetune"),
    "long-finetune": Regime("ss-phrases-finetune.yaml", "Long outputs (cmudict-phrases), fine-tuning the TF seed-0 "
                            "model", "phrases", PHRASE_SCORES, base="long-scratch", best_of="finetune"),
}  # fmt: skip
#: The long regimes' arms beside the control while the fine-tune regime has no results to rank.
FALLBACK_BEST = ("ss-position", "ss-parallel-k1")
DEFAULT_BASE = "benchmarks/results/g2p_lightning-cpu-bahdanau-384-rerun_runs/teacher-forcing_s0/model"
#: Column headers of the scores; higher is better for :data:`HIGHER_BETTER`, lower for the others.
SCORES = {"exact_match": "exact %", "wer": "WER %", "per": "PER %", "token_acc": "token acc %",
          "tf_token_acc": "TF token acc %", "gap": "gap (pts)", "tf_loss": "TF loss", "greedy_wer": "WER greedy %",
          "greedy_per": "PER greedy %", "beam5_wer": "WER beam 5 %", "beam5_per": "PER beam 5 %",
          "greedy_word_er": "word ER greedy %"}  # fmt: skip
HIGHER_BETTER = ("exact_match", "token_acc", "tf_token_acc")
#: Width of the output-position bins of the plot and the table.
POSITION_BIN = 5


def inverse_sigmoid_k(decay_steps: int, left: float = 0.05) -> float:
    """The ``k >= 1`` of an inverse-sigmoid schedule with ``left`` of its range still to go at ``decay_steps``
    (bisection: ``k / (k + exp(s / k))`` grows with ``k``; 1 when even ``k = 1`` leaves less).

    Example:
        >>> k = inverse_sigmoid_k(1000)
        >>> round(TeacherForcing(schedule="inverse_sigmoid", start=1.0, end=0.5, k=k).ratio(1000), 3), round(k, 1)
        (0.525, 128.2)
    """

    def share(k: float) -> float:
        return k / (k + math.exp(min(decay_steps / k, 700.0)))

    lo, hi = 1.0, float(max(decay_steps, 2))
    if share(lo) >= left:
        return lo
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if share(mid) < left else (lo, mid)
    return (lo + hi) / 2


def arm(name: str, study: Study, total_steps: int) -> TeacherForcing:
    """Arm ``name``'s settings in ``study`` for a run of ``total_steps`` optimizer steps.

    Example:
        >>> [round(float(arm(a, STUDIES["regimes"], 1000).ratio(1000)), 2) for a in STUDIES["regimes"].arms]
        [1.0, 0.75, 0.75, 0.0, 0.75]
        >>> [round(float(arm("ss-position", STUDIES["regimes"], 1000).position_ratio(1000, t)), 2) for t in (0, 80)]
        [0.95, 0.27]
    """
    changes = ARMS[name][1]
    if changes is None:
        return TeacherForcing()
    decay = max(1, round(study.decay_fraction * total_steps))
    settings: dict[str, Any] = {"schedule": "linear", "start": 1.0, "end": study.end, "decay_steps": decay} | changes
    if settings["schedule"] == "inverse_sigmoid":
        settings["k"] = inverse_sigmoid_k(decay)
    return TeacherForcing(**settings)


def schedule_text(tf: TeacherForcing, total_steps: int) -> str:
    """One line for the report: ``linear 1 -> 0.5 (decay 750 steps), 0.50 at step 1000``."""
    shape = f"k={tf.k:.1f}, " if tf.schedule == "inverse_sigmoid" else ""
    position = f", by position {tf.position_schedule} k={tf.position_k:g}" if tf.position_schedule != "none" else ""
    return (
        f"{tf.schedule.replace('_', ' ')} {tf.start:g} -> {tf.end:g} ({shape}decay {tf.decay_steps} steps)"
        f"{position}, {tf.ratio(total_steps):.2f} at step {total_steps}"
    )


# -- statistics -----------------------------------------------------------------------------------------------

#: Two-sided 95% quantiles of Student's t, ``t_{0.975}(df)``, for when scipy is not installed.
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000, 120: 1.980}  # fmt: skip


def t_quantile(df: float, use_scipy: bool = True) -> float:
    """``t_{0.975}(df)``: scipy's when installed (``use_scipy``), else :data:`T_975` at the largest tabulated ``df``
    not above ``df`` (a little wider: conservative).

    Example:
        >>> t_quantile(2, use_scipy=False), t_quantile(2.7, use_scipy=False), t_quantile(500, use_scipy=False)
        (4.303, 4.303, 1.98)
    """
    if df < 1:
        raise ValueError(f"t_quantile: got df={df!r}, expected >= 1 (at least 2 values per side)")
    if use_scipy:
        try:
            from scipy import stats

            return float(stats.t.ppf(0.975, df))
        except ImportError:
            pass
    return T_975[max(k for k in T_975 if k <= df)]


@dataclass(frozen=True)
class Difference:
    """An arm's mean minus the control's, with a 95% confidence interval ``[low, high]`` (``None`` with too few
    seeds); ``paired``: from the per-seed differences, else Welch's interval."""

    mean: float
    low: float | None
    high: float | None
    n: int
    paired: bool
    df: float | None = None

    def text(self, digits: int = 2) -> str:
        """``+0.12 [-0.30, +0.54]``, or the mean alone without an interval.

        Example:
            >>> Difference(0.5, -0.1, 1.1, 3, True).text(), Difference(0.5, None, None, 1, True).text()
            ('+0.50 [-0.10, +1.10]', '+0.50')
        """
        if self.low is None or self.high is None:
            return f"{self.mean:+.{digits}f}"
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"

    @property
    def excludes_zero(self) -> bool | None:
        """Whether the interval lies on one side of 0 (``None`` without an interval)."""
        return None if self.low is None or self.high is None else self.low > 0 or self.high < 0


def paired_difference(values: dict[int, float], control: dict[int, float], use_scipy: bool = True) -> Difference:
    """Mean of the per-seed differences ``values[s] - control[s]`` over the seeds both have, with the t-interval
    ``mean ± t_{0.975}(n - 1) * sd / sqrt(n)``.

    Example:
        >>> d = paired_difference({0: 30.0, 1: 31.0, 2: 29.5}, {0: 30.5, 1: 30.8, 2: 30.2}, use_scipy=False)
        >>> round(d.mean, 3), round(d.low, 3), round(d.high, 3), d.n
        (-0.333, -1.507, 0.841, 3)
    """
    diffs = [values[s] - control[s] for s in sorted(set(values) & set(control))]
    if not diffs:
        raise ValueError("paired_difference: no seed has both the arm's and the control's value")
    mean = statistics.mean(diffs)
    if len(diffs) < 2:
        return Difference(mean, None, None, len(diffs), True)
    half = t_quantile(len(diffs) - 1, use_scipy) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return Difference(mean, mean - half, mean + half, len(diffs), True, float(len(diffs) - 1))


def welch_difference(values: Sequence[float], control: Sequence[float], use_scipy: bool = True) -> Difference:
    """``mean(values) - mean(control)`` with Welch's t-interval (unequal variances, Welch-Satterthwaite ``df``).

    Example:
        >>> d = welch_difference([30.0, 31.0, 29.5], [30.5, 30.8, 30.2], use_scipy=False)
        >>> round(d.mean, 3), round(d.low, 3), round(d.high, 3), round(d.df, 2)
        (-0.333, -2.372, 1.705, 2.6)
    """
    if not values or not control:
        raise ValueError("welch_difference: both sides need at least one value")
    mean = statistics.mean(values) - statistics.mean(control)
    n = min(len(values), len(control))
    if len(values) < 2 or len(control) < 2:
        return Difference(mean, None, None, n, False)
    va, vc = statistics.variance(values) / len(values), statistics.variance(control) / len(control)
    if va + vc == 0:
        return Difference(mean, mean, mean, n, False, float(len(values) + len(control) - 2))
    df = (va + vc) ** 2 / (va**2 / (len(values) - 1) + vc**2 / (len(control) - 1))
    half = t_quantile(df, use_scipy) * math.sqrt(va + vc)
    return Difference(mean, mean - half, mean + half, n, False, df)


# -- the error rate by output position ------------------------------------------------------------------------


def position_errors(hypothesis: Sequence[str], reference: Sequence[str]) -> list[int]:
    """Per reference position, 1 where a minimum edit alignment of ``hypothesis`` to ``reference`` has an error:
    the reference token substituted or deleted, or hypothesis tokens inserted just before it (after the last one:
    counted on the last).

    Example:
        >>> position_errors(list("abcd"), list("abcd")), position_errors(list("axcd"), list("abcd"))
        ([0, 0, 0, 0], [0, 1, 0, 0])
        >>> position_errors(list("acd"), list("abcd")), position_errors(list("abxcd"), list("abcd"))
        ([0, 1, 0, 0], [0, 0, 1, 0])
    """
    n, m = len(hypothesis), len(reference)
    errors = [0] * m
    if m == 0:
        return errors
    cost = [[i + j if i == 0 or j == 0 else 0 for j in range(m + 1)] for i in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            same = hypothesis[i - 1] == reference[j - 1]
            cost[i][j] = min(cost[i - 1][j - 1] + (not same), cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (hypothesis[i - 1] != reference[j - 1]):
            errors[j - 1] |= hypothesis[i - 1] != reference[j - 1]
            i, j = i - 1, j - 1
        elif j > 0 and cost[i][j] == cost[i][j - 1] + 1:  # reference token deleted
            errors[j - 1] = 1
            j -= 1
        else:  # hypothesis token inserted before reference position j
            errors[min(j, m - 1)] = 1
            i -= 1
    return errors


def position_profile(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, list]:
    """The error rate (%) at each reference position over the outputs that reach it, and how many do.

    Example:
        >>> position_profile([list("ab"), list("xbc")], [list("ab"), list("abc")])
        {'error_rate': [50.0, 0.0, 0.0], 'count': [2, 2, 1]}
    """
    longest = max((len(ref) for ref in references), default=0)
    errors, count = [0] * longest, [0] * longest
    for hyp, ref in zip(hypotheses, references, strict=True):
        for t, wrong in enumerate(position_errors(hyp, ref)):
            errors[t] += wrong
            count[t] += 1
    return {"error_rate": [100.0 * e / c for e, c in zip(errors, count, strict=True)], "count": count}


def binned_profile(runs: list[dict[str, Any]], width: int = POSITION_BIN) -> tuple[list[int], list[float]]:
    """The greedy error rate (%) by output position over ``runs``, all outputs pooled, in bins of ``width``
    positions: each bin's first position and its rate."""
    errors: dict[int, float] = {}
    counts: dict[int, int] = {}
    for run in runs:
        profile = run.get("positions") or {"error_rate": [], "count": []}
        for t, (rate, count) in enumerate(zip(profile["error_rate"], profile["count"], strict=True)):
            errors[t // width] = errors.get(t // width, 0.0) + rate * count / 100
            counts[t // width] = counts.get(t // width, 0) + count
    return [b * width for b in sorted(counts)], [100.0 * errors[b] / counts[b] for b in sorted(counts)]


# -- recipes and runs -----------------------------------------------------------------------------------------


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config file's nested keys as the dotted names of the command line.

    Example:
        >>> flatten({"data": {"corpus": "cmudict", "batch_size": 8}, "seed_everything": 0})
        {'data.corpus': 'cmudict', 'data.batch_size': 8, 'seed_everything': 0}
    """
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and key != "corpus_options":
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


@dataclass(frozen=True)
class Recipe:
    """A fit config file and the options given after it (``overrides``: dotted names and values)."""

    config: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        import yaml

        return flatten(yaml.safe_load(Path(self.config).read_text()) or {}) | self.overrides

    def total_steps(self) -> int:
        """Optimizer steps of one run: epochs times the train batches of an epoch, capped by ``max_steps``."""
        from datamodules import PreparedData

        o = self.options()
        per_epoch = len(PreparedData(o["data.corpus"], batch_size=int(o["data.batch_size"]),
                                     corpus_options=o.get("data.corpus_options")).sampler("train"))  # fmt: skip
        limit = o.get("trainer.limit_train_batches")
        per_epoch = min(per_epoch, limit) if isinstance(limit, int) and limit > 0 else per_epoch
        epochs, steps = int(o.get("trainer.max_epochs") or -1), int(o.get("trainer.max_steps") or -1)
        budgets = [b for b in (epochs * per_epoch, steps) if b > 0]
        if not budgets:
            raise SystemExit(f"{self.config}: set trainer.max_epochs or trainer.max_steps (the study's fixed budget)")
        return min(budgets)


#: ``--smoke``: tiny models, 3 steps, small corpora where they are generated, 16 test words.
SMOKE = {"trainer.max_epochs": 1, "trainer.limit_train_batches": 3, "trainer.limit_val_batches": 1,
         "data.batch_size": 16, "model.warmup_steps": 1, "model.config.hidden_size": 16,
         "model.config.embedding_dim": 8}  # fmt: skip
SMOKE_DATA = {"n_train": 96, "n_val": 16, "n_test": 16}


def make_recipe(regime: str, extra: dict[str, Any], smoke: bool) -> tuple[Recipe, int]:
    """The recipe of ``regime`` with the ``extra`` options (and ``smoke``'s), and its steps per run; where the
    options change the budget, the learning rate's cosine decay still ends with the last step."""
    recipe = Recipe(f"benchmarks/configs/{REGIMES[regime].config}", REGIMES[regime].options)
    if smoke:
        options = recipe.options()
        data = {"data.corpus_options": (options.get("data.corpus_options") or {}) | SMOKE_DATA}
        recipe = Recipe(recipe.config, recipe.overrides | SMOKE | ({} if options["data.corpus"] == "cmudict" else data))
    recipe = Recipe(recipe.config, recipe.overrides | extra)
    steps, options = recipe.total_steps(), recipe.options()
    decay = max(1, steps - int(options.get("model.warmup_steps") or 0))
    if options.get("model.lr_decay_steps") != decay:
        recipe = Recipe(recipe.config, recipe.overrides | {"model.lr_decay_steps": decay})
    return recipe, steps


def option_value(text: str) -> Any:
    """An option's value given after ``--``: JSON when it parses (``4``, ``true``, ``{"n_train": 96}``), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def fit_command(recipe: Recipe, tf: TeacherForcing, seed: int, run_dir: Path, init_from: str | None) -> list[str]:
    """The ``lit-seq2seq fit`` command of one run, after the Python interpreter.

    Example:
        >>> r = Recipe("benchmarks/configs/ss-finetune.yaml")
        >>> " ".join(fit_command(r, arm("ss-token", STUDIES["regimes"], 100), 1, Path("r"), "base/model"))
        '-m lit_seq2seq.cli fit --config benchmarks/configs/ss-finetune.yaml --seed_everything 1 --data.seed 1 \
--init_from base/model --model.teacher_forcing.schedule linear --model.teacher_forcing.end 0.75 \
--model.teacher_forcing.decay_steps 50 --trainer.default_root_dir r --save_pretrained r/model \
--trainer.logger CSVLogger --trainer.logger.save_dir r --ckpt_path last'
    """
    default = TeacherForcing().to_dict()
    schedule = {f"--model.teacher_forcing.{k}": str(v) for k, v in tf.to_dict().items() if v != default[k]}
    options = {f"--{k}": v if isinstance(v, str) else json.dumps(v) for k, v in recipe.overrides.items()}
    return ["-m", "lit_seq2seq.cli", "fit", "--config", recipe.config, "--seed_everything", str(seed), "--data.seed",
            str(seed), *(["--init_from", init_from] if init_from else []), *(a for kv in schedule.items() for a in kv),
            "--trainer.default_root_dir", str(run_dir), "--save_pretrained", str(run_dir / "model"),
            *(a for kv in options.items() for a in kv), "--trainer.logger", "CSVLogger", "--trainer.logger.save_dir",
            str(run_dir), "--ckpt_path", "last"]  # fmt: skip


def make_job(runs_dir: Path, regime: str, name: str, seed: int, tf: TeacherForcing, recipe: Recipe, steps: int,
             init_from: str | None, test_words: int, scorer: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Arm ``name``'s run of ``regime`` as a job of ``common.run_jobs``: its result file's name, the ``settings``
    its result depends on (a result file written with others is refused), its run folder, scorer and test data."""
    run_dir, options = runs_dir / regime / f"{name}_s{seed}", recipe.options()
    settings = {"folder": regime, "arm": name, "seed": seed, "total_steps": steps, "init_from": init_from,
                "corpus": options["data.corpus"], "test_words": test_words,
                "fit": fit_command(recipe, tf, seed, run_dir, init_from)}  # fmt: skip
    data = {k: options.get(f"data.{k}") for k in ("corpus", "batch_size", "corpus_options")}
    return {"name": f"{regime}/{name}_s{seed}", "settings": settings, "run_dir": str(run_dir), "data": data,
            "scorer": scorer or REGIMES[regime].scorer}  # fmt: skip


def forced_and_free_scores(model: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Free-running scores as ``LitSeq2Seq`` logs ``test/...`` (greedy), the teacher-forced token accuracy (of the
    logits' argmax on the same tokens, ``<eos>`` included) and loss, and their ``gap`` in points."""
    import lightning.pytorch as pl
    import torch

    from datamodules import Seq2SeqDataModule
    from seq2seq_fit.vocab import PAD_ID

    data, test_words = job["data"], job["settings"]["test_words"]
    dm = Seq2SeqDataModule(**data, seed=job["settings"]["seed"])
    limit = -(-test_words // data["batch_size"]) if test_words else None
    trainer = pl.Trainer(accelerator="cpu", logger=False, limit_test_batches=limit, enable_progress_bar=False,
                         enable_model_summary=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        (test,) = trainer.test(model, datamodule=dm, verbose=False)
    correct = total = 0
    with torch.no_grad():
        for batch in list(dm.test_dataloader())[:limit]:
            logits = model(batch["source"], batch["source_lengths"], batch["target_in"])  # (B, T, V)
            mask = batch["target_out"] != PAD_ID  # (B, T)
            correct += int(((logits.argmax(-1) == batch["target_out"]) & mask).sum())
            total += int(mask.sum())
    run = {key.removeprefix("test/"): float(value) for key, value in test.items()}
    run |= {"tf_loss": run.pop("loss"), "tf_token_acc": 100.0 * correct / max(total, 1)}
    return run | {"gap": run["tf_token_acc"] - run["token_acc"]}


def phrase_scores(model: Any, corpus: str, test_words: int) -> dict[str, Any]:
    """Greedy scores of phrases beyond WER/PER: the word error rate inside them (edit distance over words /
    reference words) and the error rate by output position (:func:`position_profile`)."""
    from datamodules import load_corpus
    from datamodules.cmudict_phrases import SEPARATOR
    from seq2seq_fit import g2p_scores

    def words(tokens: Sequence[str]) -> list[str]:  # one string of phones per word
        return " ".join(tokens).split(f" {SEPARATOR} ") if tokens else []

    sources, references = load_corpus(corpus).references("test")
    sources, refs = sources[: test_words or None], [r[0] for r in references[: test_words or None]]
    hypotheses = model.translate(sources, batch_size=512, strategy="greedy")
    scores = g2p_scores([words(h) for h in hypotheses], [[words(r)] for r in refs])
    return {"greedy_word_er": scores.per, "positions": position_profile(hypotheses, refs)}


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """A job in the child: run (or resume) its ``fit`` command, then score the model it saved."""
    from lit_seq2seq import LitSeq2Seq

    settings, run_dir = job["settings"], Path(job["run_dir"])
    if settings["init_from"] and not (Path(settings["init_from"]) / "config.json").exists():
        raise FileNotFoundError(f"--init_from {settings['init_from']}: no saved model there (config.json)")
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(run_dir / "fit.log", "a") as log:
        code = subprocess.run([sys.executable, *settings["fit"]], stdout=log, stderr=subprocess.STDOUT).returncode
    with open(run_dir / "fit_seconds.txt", "a") as f:  # a resumed run's time is the sum of its invocations
        f.write(f"{time.perf_counter() - started:.1f}\n")
    if code:
        lines = [line for line in (run_dir / "fit.log").read_text(errors="replace").splitlines() if line.strip()]
        raise RuntimeError(f"fit exited with status {code}: {lines[-1][:300] if lines else 'no output'}")
    model = LitSeq2Seq.from_pretrained(run_dir / "model").eval()
    points = curve(run_dir)
    run = {"regime": settings["folder"], "arm": settings["arm"], "seed": settings["seed"],
           "train_minutes": fit_seconds(run_dir) / 60, "steps": settings["total_steps"],
           "epochs": len(points), "curve": points, "config": model.config.to_dict()}  # fmt: skip
    started = time.perf_counter()
    if job["scorer"] == "test":
        run |= forced_and_free_scores(model, job)
    else:
        run |= score(model, settings["corpus"], settings["test_words"])
    if job["scorer"] == "phrases":
        run |= phrase_scores(model, settings["corpus"], settings["test_words"])
    return run | {"score_minutes": (time.perf_counter() - started) / 60}


# -- report ---------------------------------------------------------------------------------------------------


def read_runs(runs_dir: Path, study: Study) -> list[dict[str, Any]]:
    """Every finished run of ``study`` under ``runs_dir`` in regime, arm and seed order (older run files, which
    name the regime ``task`` and the arm ``variant``, alike)."""
    runs = []
    for path in sorted(runs_dir.glob("*/*.json")):
        data = common.read_json(path)
        run = data.get("run", {})
        if "task" in run:
            run = {"regime": run.pop("task"), "arm": run.pop("variant"), "config": data["settings"]["task"]["config"]}
            run |= data["run"]
        if run and "error" not in run and run["regime"] in study.regimes and run["arm"] in study.arms:
            runs.append(run)
    return sorted(runs, key=lambda r: (study.regimes.index(r["regime"]), study.arms.index(r["arm"]), r["seed"]))


def summarise(runs: list[dict[str, Any]], use_scipy: bool = True) -> list[dict[str, Any]]:
    """Per (regime, arm): mean ± sd of each score over the seeds and, for an arm other than the control, the mean
    difference from the control on the regime's compared scores with its 95% interval (paired by seed where the
    regime fine-tunes one base model, else Welch's).

    Example:
        >>> wers = {"teacher-forcing": [30.0, 31.0], "ss-token": [29.0, 30.4]}
        >>> runs = [{"regime": "finetune", "arm": arm, "seed": s, "greedy_wer": w, "train_minutes": 1.0}
        ...         for arm, ws in wers.items() for s, w in enumerate(ws)]
        >>> row = summarise(runs, use_scipy=False)[1]
        >>> row["greedy_wer_text"], row["greedy_wer_delta"].text()
        ('29.70 ± 0.99', '-0.80 [-3.34, +1.74]')
    """
    summary = []
    for regime, name in dict.fromkeys((r["regime"], r["arm"]) for r in runs):
        spec = REGIMES[regime]
        rs = [r for r in runs if r["regime"] == regime and r["arm"] == name]
        control = [r for r in runs if r["regime"] == regime and r["arm"] == CONTROL]
        row: dict[str, Any] = {"regime": regime, "arm": name, "label": ARMS[name][0], "seeds": len(rs),
                               "seed_list": [r["seed"] for r in rs]}  # fmt: skip
        for key in (*spec.compared, *spec.shown, "train_minutes"):
            mine = {r["seed"]: float(r[key]) for r in rs if key in r}
            if not mine:
                continue
            row[key] = statistics.mean(mine.values())
            row[key + "_sd"] = statistics.stdev(mine.values()) if len(mine) > 1 else None
            row[key + "_text"] = f"{row[key]:.2f}" + (f" ± {row[key + '_sd']:.2f}" if len(mine) > 1 else "")
            theirs = {r["seed"]: float(r[key]) for r in control if key in r}
            if name == CONTROL or key not in spec.compared or not theirs or (spec.base and not set(mine) & set(theirs)):
                continue
            if spec.base:
                delta = paired_difference(mine, theirs, use_scipy)
            else:
                delta = welch_difference(list(mine.values()), list(theirs.values()), use_scipy)
            row[key + "_delta"] = delta
            row[key + "_delta_text"] = delta.text() + (" *" if delta.excludes_zero else "")
        summary.append(row)
    return summary


PROTOCOL = {
    "all": "Test scores of the saved models after a fixed budget (final weights). Mean ± sample sd over the seeds; "
    "Δ: the arm's mean minus the control's, with a 95% t-interval (paired by seed where every seed fine-tunes the "
    "same base model, Welch's otherwise); * marks an interval that excludes 0. Lower is better for WER, PER and "
    "loss, higher for exact match and accuracies. train min: wall time of the fit command, machine load included.",
    "beam": "WER/PER greedy and with beam 5: any-reference WER, closest-reference PER; on phrases WER is the share "
    "of phrases not entirely right, word ER the word error rate inside them.",
    "test": "Free running: greedy decoding, scored as `LitSeq2Seq` logs `test/...`. TF: teacher forced (gold "
    "prefix), the token accuracy of the logits' argmax on the same tokens (`<eos>` included) and the test loss. "
    "gap: TF minus free-running token accuracy, in points (what exposure bias costs).",
}


def results_table(study: Study, summary: list[dict[str, Any]], runs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The Markdown report: the protocol, then per regime its recipe, a table of arms and their schedules, and on
    phrases the greedy error rate by output position."""
    notes = sorted({"test" if REGIMES[r["regime"]].scorer == "test" else "beam" for r in runs})
    text = f"# {study.title}\n\n" + " ".join(PROTOCOL[n] for n in ["all", *notes]) + "\n"
    for regime in (g for g in study.regimes if any(r["regime"] == g for r in runs)):
        spec, rows = REGIMES[regime], [r for r in summary if r["regime"] == regime]
        mine = [r for r in runs if r["regime"] == regime]
        base, steps = meta.get("init_from", {}).get(regime), mine[0]["steps"]
        options = "".join(f" --{k} '{json.dumps(v)}'" for k, v in spec.options.items())
        text += f"\n## {spec.title}\n\n`lit-seq2seq fit --config benchmarks/configs/{spec.config}{options}"
        text += f"{' --init_from ' + base if base else ''}`; {steps} optimizer steps per run"
        text += f"; model `{common.config_text(mine[0]['config'])}`.\n\n" if "config" in mine[0] else ".\n\n"
        cols = [("label", "arm", ""), ("seeds", "seeds", "d")]
        for key in spec.compared:
            cols += [(key + "_text", SCORES[key], ""), (key + "_delta_text", "Δ " + SCORES[key].removesuffix(" %"), "")]
        cols += [(key + "_text", SCORES[key], "") for key in spec.shown] + [("train_minutes", "train min", ".1f")]
        ss = [r for r in rows if r["arm"] != CONTROL]
        schedules = [f"{r['label']}: {schedule_text(arm(r['arm'], study, steps), steps)}" for r in ss]
        text += common.markdown_table(rows, cols) + (f"\nSchedules: {'; '.join(schedules)}.\n" if schedules else "")
        if spec.scorer == "phrases":
            starts = sorted({s for r in mine for s in binned_profile([r])[0]})
            cols = [("label", "greedy error rate % at output position", "")]
            cols += [(str(s), f"{s + 1}-{s + POSITION_BIN}", ".1f") for s in starts]
            profiles = [binned_profile([r for r in mine if r["arm"] == row["arm"]]) for row in rows]
            by_arm = [
                {"label": row["label"]} | dict(zip(map(str, p[0]), p[1], strict=True))
                for row, p in zip(rows, profiles, strict=True)
            ]
            text += "\n" + common.markdown_table(by_arm, cols)
    return text


def plot(summary: list[dict[str, Any]], runs: list[dict[str, Any]], path: Path, title: str) -> None:
    """Left: each arm's gain over the control on its regime's first compared score (points, 95% interval; > 0:
    better); right, where runs were scored by output position: the greedy error rate by position."""
    try:
        from seq2seq_fit.plots import _pyplot

        plt = _pyplot()
    except ImportError:
        return
    rows = [r for r in summary if REGIMES[r["regime"]].compared[0] + "_delta" in r]
    long = [g for g in dict.fromkeys(r["regime"] for r in runs) if REGIMES[g].scorer == "phrases"]
    fig, axes = plt.subplots(1, 2 if long else 1, figsize=(11 if long else 6, 4.2), dpi=120, squeeze=False)
    for y, row in enumerate(rows):
        key = REGIMES[row["regime"]].compared[0]
        d: Difference = row[key + "_delta"]
        err = None if d.low is None or d.high is None else [[d.mean - d.low], [d.high - d.mean]]
        gain = d.mean if key in HIGHER_BETTER else -d.mean
        axes[0, 0].errorbar([gain], [y], xerr=err, fmt="o", capsize=4, color=f"C{list(REGIMES).index(row['regime'])}")
    axes[0, 0].axvline(0, color="tab:gray", lw=0.8, ls="--")
    axes[0, 0].set_yticks(range(len(rows)), [f"{r['regime']}: {r['arm']}" for r in rows], fontsize=7)
    axes[0, 0].invert_yaxis()
    axes[0, 0].set_xlabel(
        "gain over teacher forcing, the regime's first score (points, 95% CI; > 0: better)", fontsize=8
    )
    for regime, style in zip(long, ("-", "--", ":"), strict=False):
        for i, name in enumerate(ARMS):
            starts, rates = binned_profile([r for r in runs if r["regime"] == regime and r["arm"] == name])
            if starts:
                axes[0, 1].plot([s + 1 for s in starts], rates, style, marker="o", ms=3, color=f"C{i}",
                                label=f"{name} ({regime})")  # fmt: skip
                axes[0, 1].legend(fontsize=7)
                axes[0, 1].set_xlabel(
                    f"output position (bins of {POSITION_BIN}); greedy token error rate %", fontsize=8
                )
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_write_path(path, suffix=".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def write_report(results: Path, study: str, meta: dict[str, Any], stem: str | None = None) -> str:
    """``<stem>.json`` / ``.md`` / ``.png`` (stem ``ss_<study>`` by default) from every finished run file of the
    study, one writer at a time among the processes sharing it; returns the Markdown."""
    stem = stem or f"ss_{study}"
    (results / f"{stem}_runs").mkdir(parents=True, exist_ok=True)
    with open(results / f"{stem}_runs" / ".report.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        runs = read_runs(results / f"{stem}_runs", STUDIES[study])
        summary = summarise(runs)
        table = results_table(STUDIES[study], summary, runs, meta)
        rows = [{k: v.__dict__ if isinstance(v, Difference) else v for k, v in row.items()} for row in summary]
        common.write_results(stem, runs + rows, meta, table, results=results)
        if runs:
            plot(summary, runs, results / f"{stem}.png", STUDIES[study].title)
    return table


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        common.serve_jobs(run_one)
        return
    argv, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", choices=list(STUDIES))
    parser.add_argument("--regimes", nargs="+", choices=list(REGIMES), help="default: all of the study's")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), help="default: the study's; the long regimes: the "
                        "two best fine-tune arms; --smoke: the first two. Teacher forcing always runs")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, help="default: 0 1 2 (--smoke: 0)")
    parser.add_argument("--base", help=f"the finetune regime's base model directory (default {DEFAULT_BASE})")
    parser.add_argument("--test-words", type=int, default=0, help="score only the first N test words/phrases (0: all)")
    parser.add_argument("--timeout", type=float, help="seconds per run, fit and scoring together")
    common.add_run_options(parser, threads=1)
    parser.add_argument("--smoke", action="store_true", help="tiny models and corpora, 3 steps, seed 0, 2 arms")
    args = parser.parse_args(argv)
    study = STUDIES[args.study]
    regimes = args.regimes or list(study.regimes)
    if set(regimes) - set(study.regimes) or set(args.arms or ()) - set(study.arms):
        parser.error(f"{args.study} has the regimes {' '.join(study.regimes)} and the arms {' '.join(study.arms)}")
    if len(extra) % 2 or not all(a.startswith("--") for a in extra[::2]):
        parser.error(f"options after --: got {' '.join(extra)!r}, expected pairs such as --trainer.max_epochs 4")
    overrides = {k[2:]: option_value(v) for k, v in zip(extra[::2], extra[1::2], strict=True)}
    seeds = args.seeds or ([0] if args.smoke else [0, 1, 2])
    stem = f"ss_{args.study}" + ("-smoke" if args.smoke else "")
    runs_dir = args.results / f"{stem}_runs"
    test_words = args.test_words or (16 if args.smoke else 0)
    own_base = args.smoke and not args.base  # the smoke fine-tunes its own base: its recipe trained from scratch
    bases = {"--base": str(runs_dir / f"smoke-base/{CONTROL}_s0/model") if own_base else args.base or DEFAULT_BASE,
             "long-scratch": str(runs_dir / f"long-scratch/{CONTROL}_s{seeds[0]}/model")}  # fmt: skip
    init_from = {r: bases[str(REGIMES[r].base)] for r in study.regimes if REGIMES[r].base}
    if "finetune" in regimes and not own_base and not (Path(bases["--base"]) / "config.json").exists():
        raise SystemExit(f"ss_study.py: --base {bases['--base']} holds no saved model (config.json); train it first "
                         "(make bench-g2p-bahdanau) or pass --base DIR")  # fmt: skip
    common.pin_cpus(args.cpus)  # the children inherit the CPUs
    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()} | {"fit": extra}
    meta = {"device": "cpu", "threads": args.threads, "cpus": common.allowed_cpus(), "init_from": init_from,
            "args": options}  # fmt: skip

    def older(job: dict[str, Any]) -> bool:  # a finished run file of the earlier protocol ("task" settings): read
        done = common.read_json(common.result_path(runs_dir, job))
        return "task" in done.get("settings", {}) and "error" not in done["run"]

    def done(job: dict[str, Any], run: dict[str, Any]) -> None:
        if "error" in run:
            print(f"   {job['name']} failed: {run['error']}; see {job['run_dir']}/fit.log", flush=True)
            return
        scores = [f"{SCORES[k]} {run[k]:.2f}" for k in ("exact_match", "wer", "greedy_wer", "beam5_wer") if k in run]
        print(f"   {job['name']}: {', '.join(scores)}; train {run['train_minutes']:.1f} min", flush=True)
        write_report(args.results, args.study, meta, stem)

    def run(jobs: list[dict[str, Any]]) -> None:
        jobs = [j for j in jobs if args.fresh or not older(j)]
        todo = [j for j in jobs if args.fresh or common.finished(runs_dir, j) is None]
        print(f"{len(jobs) - len(todo)} of {len(jobs)} runs finished before", flush=True)
        for j in todo:
            print(f"== {j['name']}: python {' '.join(j['settings']['fit'])}", flush=True)
        results = common.run_jobs([sys.executable, "-m", "benchmarks.ss_study", "--child"], jobs, runs_dir,
                                  env=common.thread_env(args.threads), fresh=args.fresh, on_result=done,
                                  timeout=args.timeout * len(todo) if args.timeout else None)  # fmt: skip
        failed = [j["name"] for j, r in zip(jobs, results, strict=True) if r is None or "error" in r]
        if failed:
            raise SystemExit(f"ss_study.py: {len(failed)} run(s) failed or were stopped: {', '.join(failed)}; see "
                             "their fit.log; run the same command again to resume")  # fmt: skip

    for regime in regimes:
        spec = REGIMES[regime]
        recipe, steps = make_recipe(regime, overrides, args.smoke)
        if spec.base == "--base" and own_base:
            run([make_job(runs_dir, "smoke-base", CONTROL, 0, TeacherForcing(), recipe, steps, None, test_words,
                          "beam")])  # fmt: skip
        chosen = args.arms or list(study.arms[: 2 if args.smoke else None])
        if spec.best_of and not (args.arms or args.smoke):  # the two best arms of best_of by its first score
            key = REGIMES[spec.best_of].compared[0]
            sign = -1 if key in HIGHER_BETTER else 1
            rows = [r for r in summarise(read_runs(runs_dir, study)) if r["regime"] == spec.best_of and key in r]
            ranked = sorted((r for r in rows if r["arm"] != CONTROL), key=lambda r: sign * r[key])
            chosen = [r["arm"] for r in ranked[:2]] if len(ranked) >= 2 else list(FALLBACK_BEST)
            print(f"{regime}: teacher forcing against {', '.join(chosen)}", flush=True)
        arms = [CONTROL, *(a for a in chosen if a != CONTROL)]
        run([make_job(runs_dir, regime, a, seed, arm(a, study, steps), recipe, steps, init_from.get(regime), test_words)
             for seed in seeds for a in arms])  # fmt: skip
    print(write_report(args.results, args.study, meta, stem))


if __name__ == "__main__":
    main()
