"""When scheduled sampling pays: the regimes the literature names, measured on G2P with several seeds.

Two regimes, each a set of arms (teacher-forcing variants) trained with 3 seeds by the shipped
``lit-seq2seq fit`` (``python -m lit_seq2seq.cli fit --config benchmarks/configs/ss-*.yaml ...``, the arm's
``--model.teacher_forcing.*`` options, the seed, a run folder, ``--save_pretrained <run>/model``), then
scored on the test split greedy and with beam 5 (``benchmarks.g2p.score``: any-reference WER, closest-reference
PER):

- ``finetune``: a converged teacher-forced CMUdict model (``--base``, by default the saved model of the
  ``cpu-bahdanau-384`` rerun) continues for a fixed budget (``ss-finetune.yaml``: 2 epochs at a low learning
  rate) under each of :data:`FINETUNE_ARMS` (``fit --init_from <base>``). Every seed starts from the same base,
  so the differences from the control are paired by seed.
- ``long``: phrase-level G2P (``cmudict-phrases``: 3-8 words, 30-80 target tokens, split by word), teacher
  forcing against the two best fine-tune arms (``--long-arms``), trained from scratch (``ss-phrases.yaml``,
  differences unpaired: Welch) and as a fine-tune of the teacher-forced seed-0 scratch model
  (``ss-phrases-finetune.yaml``, paired). Also scored: the word error rate inside the phrases and the greedy
  error rate by output position.

Each run is one job of ``benchmarks.common.run_jobs``: its result file is
``<results>/ss_regimes_runs/<regime>/<arm>_s<seed>.json`` beside the ``fit`` command's run folder of the same
name. Run the same command again to resume: finished runs are read, an unfinished one reruns its ``fit``
command, which resumes from its last checkpoint (``--ckpt_path last``). ``ss_regimes.json`` / ``.md`` / ``.png``
are rewritten after every run: per arm the mean ± sd of test WER/PER (greedy, beam 5) and the mean difference
from teacher forcing with a 95% t-interval.

    python -m benchmarks.ss_regimes --cpus 0                    # both regimes, 3 seeds (make bench-ss-regimes)
    python -m benchmarks.ss_regimes --regimes finetune --seeds 0 1 2 --base runs/g2p/model
    python -m benchmarks.ss_regimes --regimes long --long-arms ss-position ss-parallel-k1
    python -m benchmarks.ss_regimes --smoke --results /tmp/ssr  # tiny models and corpora, every code path
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import (
    add_run_options,
    finished,
    markdown_table,
    pin_cpus,
    read_json,
    run_jobs,
    serve_jobs,
    thread_env,
    write_results,
)
from benchmarks.g2p import curve, load_model, score
from seq2seq_fit import TeacherForcing
from seq2seq_fit.atomic_file import atomic_write_path

#: The base model of the fine-tune regime: the saved model of ``make bench-g2p-bahdanau``'s rerun.
DEFAULT_BASE = "benchmarks/results/g2p_lightning-cpu-bahdanau-384-rerun_runs/teacher-forcing_s0/model"

#: Arm name -> label, in table order; the control first. Schedules: :func:`arms`.
ARM_LABELS = {
    "teacher-forcing": "teacher forcing (control)",
    "ss-token": "SS sequential, token coins, argmax feed",
    "ss-parallel-k1": "SS parallel K=1",
    "ss-position": "SS sequential, decoding-position schedule (sigmoid)",
    "ss-sample": "SS sequential, token coins, sample feed",
}
CONTROL = "teacher-forcing"
FINETUNE_ARMS = tuple(ARM_LABELS)
#: The long regime's arms when ``--long-arms`` is not given and the fine-tune regime has no finished runs.
FALLBACK_LONG_ARMS = ("ss-position", "ss-parallel-k1")
#: Regimes: ``--regimes`` name -> the result folders it trains (``long``: from scratch, then as a fine-tune).
REGIMES = {"finetune": ("finetune",), "long": ("long-scratch", "long-finetune")}
#: Each result folder's recipe (a fit config file) and title.
RECIPES = {
    "finetune": ("ss-finetune.yaml", "Fine-tuning a converged teacher-forced CMUdict G2P model"),
    "long-scratch": ("ss-phrases.yaml", "Long outputs (cmudict-phrases), trained from scratch"),
    "long-finetune": ("ss-phrases-finetune.yaml", "Long outputs (cmudict-phrases), fine-tuning the TF seed-0 model"),
}
#: Scheduled-sampling settings of every arm: the gold-token probability falls linearly from 1 to
#: ``SS_END`` over the first ``DECAY_FRACTION`` of the run and stays there.
SS_END = 0.75
DECAY_FRACTION = 0.5
#: The decoding-position arm (Liu et al. 2021): the step schedule falls to 0 over the same steps and
#: ``p(i, t) = f(t * (1 - eps(i)))`` with ``f(t) = k / (k + exp(t / k))``, k = 20: at the end of the decay
#: 0.95 at the first output token, 0.92 at the 10th, 0.73 at the 40th, 0.27 at the 80th.
POSITION_K = 20.0
#: Scores of a run summarised per arm (mean ± sd) and compared with the control (mean difference, 95% CI).
SCORE_KEYS = ("greedy_wer", "greedy_per", "beam5_wer", "beam5_per")
SCORE_NAMES = {"greedy_wer": "WER greedy", "greedy_per": "PER greedy", "beam5_wer": "WER beam 5",
               "beam5_per": "PER beam 5", "greedy_word_er": "word ER greedy"}  # fmt: skip
#: Width of the output-position bins of the plot and the table.
POSITION_BIN = 5


def arms(total_steps: int, end: float = SS_END, decay_fraction: float = DECAY_FRACTION) -> dict[str, TeacherForcing]:
    """The arms' teacher-forcing settings for a run of ``total_steps`` optimizer steps.

    Example:
        >>> a = arms(1000)
        >>> [round(float(tf.ratio(1000)), 2) for tf in a.values()]
        [1.0, 0.75, 0.75, 0.0, 0.75]
        >>> [round(float(a["ss-position"].position_ratio(1000, t)), 2) for t in (0, 10, 40, 80)]
        [0.95, 0.92, 0.73, 0.27]
    """
    decay = max(1, round(decay_fraction * total_steps))
    linear: dict[str, Any] = {"schedule": "linear", "start": 1.0, "end": end, "decay_steps": decay}
    return {
        "teacher-forcing": TeacherForcing(),
        "ss-token": TeacherForcing(**linear),
        "ss-parallel-k1": TeacherForcing(**linear, mode="parallel", passes=1),
        "ss-position": TeacherForcing(
            schedule="linear", start=1.0, end=0.0, decay_steps=decay, position_schedule="sigmoid", position_k=POSITION_K
        ),
        "ss-sample": TeacherForcing(**linear, feed="sample"),
    }


# -- statistics ---------------------------------------------------------------------------------------

#: Two-sided 95% quantiles of Student's t, ``t_{0.975}(df)``, for when scipy is not installed.
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000, 120: 1.980}  # fmt: skip


def t_quantile(df: float, use_scipy: bool = True) -> float:
    """``t_{0.975}(df)``, the factor of a two-sided 95% t-interval: scipy's when installed (``use_scipy``),
    else :data:`T_975` at the largest tabulated ``df`` not above ``df`` (a little wider: conservative).

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
    """An arm's mean minus the control's mean, with a 95% confidence interval ``[low, high]`` (``None``
    with too few seeds); ``paired``: from the per-seed differences, else Welch's interval."""

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
        mean = f"{self.mean:+.{digits}f}"
        if self.low is None or self.high is None:
            return mean
        return f"{mean} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"

    @property
    def excludes_zero(self) -> bool | None:
        """Whether the interval lies on one side of 0 (``None`` without an interval)."""
        if self.low is None or self.high is None:
            return None
        return self.low > 0 or self.high < 0


def paired_difference(values: dict[int, float], control: dict[int, float], use_scipy: bool = True) -> Difference:
    """Mean of the per-seed differences ``values[s] - control[s]`` over the seeds both have, with the t-interval
    ``mean ± t_{0.975}(n - 1) * sd / sqrt(n)``.

    Example:
        >>> d = paired_difference({0: 30.0, 1: 31.0, 2: 29.5}, {0: 30.5, 1: 30.8, 2: 30.2}, use_scipy=False)
        >>> round(d.mean, 3), round(d.low, 3), round(d.high, 3), d.n
        (-0.333, -1.507, 0.841, 3)
    """
    seeds = sorted(set(values) & set(control))
    diffs = [values[s] - control[s] for s in seeds]
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


# -- the error rate by output position ------------------------------------------------------------------


def position_errors(hypothesis: Sequence[str], reference: Sequence[str]) -> list[int]:
    """Per reference position, 1 where a minimum edit alignment of ``hypothesis`` to ``reference`` has an
    error: the reference token substituted or deleted, or hypothesis tokens inserted just before it (after the
    last one: counted on the last).

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
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
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
    errors: list[int] = []
    count: list[int] = []
    for hyp, ref in zip(hypotheses, references, strict=True):
        for t, wrong in enumerate(position_errors(hyp, ref)):
            if t == len(count):
                errors.append(0)
                count.append(0)
            errors[t] += wrong
            count[t] += 1
    return {"error_rate": [100.0 * e / c for e, c in zip(errors, count, strict=True)], "count": count}


def words_of(tokens: Sequence[str], separator: str) -> list[str]:
    """A phrase's output as one string per word (its phones), split at ``separator``.

    Example:
        >>> words_of(["HH", "AY", "|", "DH", "EH", "R"], "|")
        ['HH AY', 'DH EH R']
    """
    return " ".join(tokens).split(f" {separator} ") if tokens else []


def long_scores(model: Any, corpus: str, test_words: int) -> dict[str, Any]:
    """Greedy scores of the long regime beyond WER/PER: the word error rate inside the phrases (edit distance
    over words / reference words) and the error rate by output position (:func:`position_profile`)."""
    from datamodules import load_corpus
    from datamodules.cmudict_phrases import SEPARATOR
    from seq2seq_fit import g2p_scores

    sources, references = load_corpus(corpus).references("test")
    if test_words:
        sources, references = sources[:test_words], references[:test_words]
    hypotheses = model.translate(sources, batch_size=512, strategy="greedy")
    refs = [r[0] for r in references]  # one reference per phrase
    words = g2p_scores([words_of(h, SEPARATOR) for h in hypotheses], [[words_of(r, SEPARATOR)] for r in refs])
    return {"greedy_word_er": words.per, "positions": position_profile(hypotheses, refs)}


# -- recipes and jobs -------------------------------------------------------------------------------------


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
    """One result folder's training recipe: a fit config file and the options given after it (``overrides``,
    command-line spellings and values; ``--smoke`` shrinks everything this way)."""

    folder: str
    config: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        import yaml

        return flatten(yaml.safe_load(Path(self.config).read_text()) or {}) | self.overrides

    def override_args(self) -> list[str]:
        return [
            arg for k, v in self.overrides.items() for arg in (f"--{k}", v if isinstance(v, str) else json.dumps(v))
        ]

    def total_steps(self) -> int:
        """Optimizer steps of one run: epochs times the train batches of an epoch (``limit_train_batches`` applied)."""
        from datamodules import PreparedData

        options = self.options()
        data = PreparedData(options["data.corpus"], batch_size=int(options["data.batch_size"]),
                            corpus_options=options.get("data.corpus_options"))  # fmt: skip
        per_epoch = len(data.sampler("train"))
        limit = options.get("trainer.limit_train_batches")
        if isinstance(limit, int) and limit > 0:
            per_epoch = min(per_epoch, limit)
        elif isinstance(limit, float):
            per_epoch = max(1, int(per_epoch * limit))
        steps = int(options["trainer.max_epochs"]) * per_epoch
        max_steps = options.get("trainer.max_steps")
        return min(steps, int(max_steps)) if max_steps and int(max_steps) > 0 else steps


def fit_command(recipe: Recipe, tf: TeacherForcing, seed: int, run_dir: Path, init_from: str | None) -> list[str]:
    """The ``lit-seq2seq fit`` command of one run, after the Python interpreter.

    Example:
        >>> r = Recipe("finetune", "benchmarks/configs/ss-finetune.yaml")
        >>> " ".join(fit_command(r, arms(100)["ss-token"], 1, Path("r"), "base/model"))
        '-m lit_seq2seq.cli fit --config benchmarks/configs/ss-finetune.yaml --seed_everything 1 --data.seed 1 \
--init_from base/model --model.teacher_forcing.schedule linear --model.teacher_forcing.end 0.75 \
--model.teacher_forcing.decay_steps 50 --trainer.default_root_dir r --save_pretrained r/model \
--trainer.logger CSVLogger --trainer.logger.save_dir r --ckpt_path last'
    """
    command = ["-m", "lit_seq2seq.cli", "fit", "--config", recipe.config, "--seed_everything", str(seed),
               "--data.seed", str(seed)]  # fmt: skip
    if init_from:
        command += ["--init_from", init_from]
    defaults = TeacherForcing()
    for key, value in tf.to_dict().items():
        if value != getattr(defaults, key):
            command += [f"--model.teacher_forcing.{key}", str(value)]
    command += ["--trainer.default_root_dir", str(run_dir), "--save_pretrained", str(run_dir / "model"),
                *recipe.override_args(), "--trainer.logger", "CSVLogger", "--trainer.logger.save_dir", str(run_dir),
                "--ckpt_path", "last"]  # fmt: skip
    return command


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """A job in the child: run (or resume) the ``fit`` command, then score the model it saved."""
    settings, run_dir = job["settings"], Path(job["run_dir"])
    init_from = settings.get("init_from")
    if init_from and not (Path(init_from) / "config.json").exists():
        raise FileNotFoundError(f"--init_from {init_from}: no saved model there (config.json); train the base first")
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(run_dir / "fit.log", "a") as log:
        code = subprocess.run([sys.executable, *settings["fit"]], stdout=log, stderr=subprocess.STDOUT).returncode
    if code:
        lines = [line for line in (run_dir / "fit.log").read_text(errors="replace").splitlines() if line.strip()]
        raise RuntimeError(f"fit exited with status {code}: {lines[-1][:300] if lines else 'no output'}")
    seconds = time.perf_counter() - started
    model = load_model("lightning", run_dir)
    points = curve(run_dir)
    run = {"regime": settings["folder"], "arm": settings["arm"], "seed": settings["seed"],
           "train_minutes": seconds / 60, "steps": settings["total_steps"], "epochs": len(points), "curve": points,
           "config": model.config.to_dict()}  # fmt: skip
    started = time.perf_counter()
    run |= score(model, settings["corpus"], settings["test_words"])
    if settings["folder"].startswith("long"):
        run |= long_scores(model, settings["corpus"], settings["test_words"])
    return run | {"score_minutes": (time.perf_counter() - started) / 60}


# -- report ---------------------------------------------------------------------------------------------------


def read_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Every finished run under ``runs_dir``, in regime, arm and seed order."""
    runs = []
    for path in sorted(runs_dir.glob("*/*.json")):
        run = read_json(path).get("run", {})
        if run and "error" not in run and run["regime"] in RECIPES:
            runs.append(run)
    folders = [f for names in REGIMES.values() for f in names]
    order = {name: i for i, name in enumerate(ARM_LABELS)}
    runs.sort(key=lambda r: (folders.index(r["regime"]) if r["regime"] in folders else 99, order.get(r["arm"], 99),
                             r["arm"], r["seed"]))  # fmt: skip
    return runs


def summarise(runs: list[dict[str, Any]], use_scipy: bool = True) -> list[dict[str, Any]]:
    """Per (regime, arm): mean ± sd of each score over the seeds and, for an arm other than the control, the mean
    difference from the control with its 95% interval (paired by seed in the fine-tune regimes, Welch's from
    scratch).

    Example:
        >>> wers = {"teacher-forcing": [30.0, 31.0], "ss-token": [29.0, 30.4]}
        >>> runs = [{"regime": "finetune", "arm": arm, "seed": s, "greedy_wer": w, "train_minutes": 1.0}
        ...         for arm, ws in wers.items() for s, w in enumerate(ws)]
        >>> row = summarise(runs, use_scipy=False)[1]
        >>> row["greedy_wer_text"], row["greedy_wer_delta"].text()
        ('29.70 ± 0.99', '-0.80 [-3.34, +1.74]')
    """
    summary = []
    for regime, arm in dict.fromkeys((r["regime"], r["arm"]) for r in runs):
        rs = [r for r in runs if r["regime"] == regime and r["arm"] == arm]
        control = {r["seed"]: r for r in runs if r["regime"] == regime and r["arm"] == CONTROL}
        row: dict[str, Any] = {"regime": regime, "arm": arm, "label": ARM_LABELS.get(arm, arm), "seeds": len(rs),
                               "seed_list": [r["seed"] for r in rs]}  # fmt: skip
        for key in (*SCORE_KEYS, "greedy_word_er", "train_minutes", "score_minutes"):
            values = [float(r[key]) for r in rs if key in r]
            if not values:
                continue
            row[key] = statistics.mean(values)
            row[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else None
            row[key + "_text"] = f"{row[key]:.2f}" + (f" ± {row[key + '_sd']:.2f}" if len(values) > 1 else "")
            if arm != CONTROL and control and key in (*SCORE_KEYS, "greedy_word_er"):
                mine = {r["seed"]: float(r[key]) for r in rs if key in r}
                theirs = {s: float(r[key]) for s, r in control.items() if key in r}
                if regime == "long-scratch":
                    delta = welch_difference(list(mine.values()), list(theirs.values()), use_scipy)
                elif set(mine) & set(theirs):
                    delta = paired_difference(mine, theirs, use_scipy)
                else:
                    continue
                row[key + "_delta"] = delta
                row[key + "_delta_text"] = delta.text() + (" *" if delta.excludes_zero else "")
        summary.append(row)
    return summary


def results_table(summary: list[dict[str, Any]], runs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The Markdown report: protocol, then per regime one table of arms."""
    text = "# When scheduled sampling pays: fine-tuning and long outputs\n\n"
    text += (
        "Test WER/PER (%) of the saved models after a fixed budget, greedy and beam 5 (any-reference WER, "
        "closest-reference PER; on phrases WER is the share of phrases not entirely right). Mean ± sample sd over "
        "the seeds; Δ: the arm's mean minus the control's, with a 95% t-interval (paired by seed where every seed "
        "starts from the same base model, Welch's from scratch); * marks an interval that excludes 0 (negative Δ: "
        "the arm is better). train min: wall time of the fit command, machine load included.\n"
    )
    text += f"\nSchedules: every SS arm's gold-token probability falls linearly from 1 to {SS_END} over the first "
    text += f"{DECAY_FRACTION:.0%} of the run; the decoding-position arm's step schedule falls to 0 over the same "
    text += f"steps, combined with f(t) = k / (k + exp(t / k)), k = {POSITION_K:g}, over the output position t.\n"
    for folder, (config, title) in RECIPES.items():
        rows = [r for r in summary if r["regime"] == folder]
        if not rows:
            continue
        base = meta.get("init_from", {}).get(folder)
        steps = next((r["steps"] for r in runs if r["regime"] == folder), None)
        text += f"\n## {title}\n\n`lit-seq2seq fit --config benchmarks/configs/{config}`"
        text += f"{' --init_from ' + base if base else ''}; {steps} optimizer steps per run.\n\n"
        cols = [("label", "arm", ""), ("seeds", "seeds", "d")]
        for key in SCORE_KEYS + (("greedy_word_er",) if folder.startswith("long") else ()):
            cols += [(key + "_text", SCORE_NAMES[key] + " %", ""), (key + "_delta_text", "Δ " + SCORE_NAMES[key], "")]
        cols += [("train_minutes", "train min", ".1f")]
        text += markdown_table(rows, cols)
        if folder.startswith("long"):
            text += "\n" + position_table(folder, runs)
    return text


def binned_profile(runs: list[dict[str, Any]], width: int = POSITION_BIN) -> tuple[list[int], list[float]]:
    """The greedy error rate by output position over ``runs`` (all outputs pooled) in bins of ``width``
    positions: each bin's first position and its rate in %."""
    errors: dict[int, float] = {}
    counts: dict[int, int] = {}
    for run in runs:
        profile = run.get("positions") or {"error_rate": [], "count": []}
        for t, (rate, count) in enumerate(zip(profile["error_rate"], profile["count"], strict=True)):
            b = t // width
            errors[b] = errors.get(b, 0.0) + rate * count / 100
            counts[b] = counts.get(b, 0) + count
    bins = sorted(counts)
    return [b * width for b in bins], [100.0 * errors[b] / counts[b] for b in bins]


def position_table(folder: str, runs: list[dict[str, Any]]) -> str:
    """Greedy error rate by output position, one row per arm, one column per bin of :data:`POSITION_BIN`."""
    by_arm = {arm: [r for r in runs if r["regime"] == folder and r["arm"] == arm]
              for arm in dict.fromkeys(r["arm"] for r in runs if r["regime"] == folder)}  # fmt: skip
    starts = sorted({s for rs in by_arm.values() for s in binned_profile(rs)[0]})
    rows = []
    for arm, rs in by_arm.items():
        row: dict[str, Any] = {"arm": ARM_LABELS.get(arm, arm)}
        row |= {str(s): rate for s, rate in zip(*binned_profile(rs), strict=True)}
        rows.append(row)
    cols = [("arm", "greedy error rate % at output position", "")] + [(str(s), f"{s + 1}-{s + POSITION_BIN}", ".1f")
                                                                      for s in starts]  # fmt: skip
    return markdown_table(rows, cols)


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Left: each arm's greedy WER difference from the control with its 95% interval per regime; right: the
    greedy error rate by output position of the long regime's arms (from scratch solid, fine-tuned dashed)."""
    try:
        from seq2seq_fit.plots import _pyplot

        plt = _pyplot()
    except ImportError:
        return
    summary = summarise(runs)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    labels = []
    for y, row in enumerate(r for r in summary if r["arm"] != CONTROL and "greedy_wer_delta" in r):
        delta: Difference = row["greedy_wer_delta"]
        err = None if delta.low is None else [[delta.mean - delta.low], [delta.high - delta.mean]]  # type: ignore[operator]
        left.errorbar([delta.mean], [y], xerr=err, fmt="o", capsize=4, color=f"C{list(RECIPES).index(row['regime'])}")
        labels.append(f"{row['regime']}: {row['arm']}")
    left.axvline(0, color="tab:gray", lw=0.8, ls="--")
    left.set_yticks(range(len(labels)))
    left.set_yticklabels(labels, fontsize=7)
    left.invert_yaxis()
    left.set_xlabel("Δ greedy test WER vs teacher forcing (points, 95% CI; < 0: better)", fontsize=8)
    left.grid(alpha=0.3, axis="x")
    for folder, style in (("long-scratch", "-"), ("long-finetune", "--")):
        for i, arm in enumerate(ARM_LABELS):
            starts, rates = binned_profile([r for r in runs if r["regime"] == folder and r["arm"] == arm])
            if starts:
                right.plot([s + 1 for s in starts], rates, style, marker="o", ms=3, color=f"C{i}",
                           label=f"{arm} ({folder.removeprefix('long-')})")  # fmt: skip
    right.set_xlabel(f"output position (bins of {POSITION_BIN} tokens)", fontsize=8)
    right.set_ylabel("greedy token error rate % (cmudict-phrases)", fontsize=8)
    right.grid(alpha=0.3)
    if right.lines:
        right.legend(fontsize=7)
    fig.suptitle("Scheduled sampling against teacher forcing: fine-tuning and long outputs", fontsize=9)
    fig.tight_layout()
    with atomic_write_path(path, suffix=".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def write_report(results: Path, meta: dict[str, Any]) -> str:
    """``ss_regimes.json`` / ``.md`` / ``.png`` from every finished run file; returns the Markdown."""
    runs = read_runs(results / "ss_regimes_runs")
    summary = summarise(runs)
    table = results_table(summary, runs, meta)
    plain = [{k: (v.__dict__ if isinstance(v, Difference) else v) for k, v in row.items()} for row in summary]
    write_results("ss_regimes", runs + plain, meta, table, results=results)
    if runs:
        plot(runs, results / "ss_regimes.png")
    return table


def best_arms(results: Path, count: int = 2) -> tuple[str, ...] | None:
    """The ``count`` fine-tune arms (not the control) with the lowest mean greedy test WER, or ``None`` when the
    fine-tune regime has no finished runs of the other arms."""
    rows = [r for r in summarise(read_runs(results / "ss_regimes_runs")) if r["regime"] == "finetune"]
    ranked = sorted((r for r in rows if r["arm"] != CONTROL and "greedy_wer" in r), key=lambda r: r["greedy_wer"])
    return tuple(r["arm"] for r in ranked[:count]) if len(ranked) >= count else None


# -- main -------------------------------------------------------------------------------------------------------

#: ``--smoke``: tiny models, a few steps, small corpora; its own base model (a run of the fine-tune recipe
#: without ``--init_from``).
SMOKE_TRAIN = {"trainer.max_epochs": 1, "trainer.limit_train_batches": 3, "trainer.limit_val_batches": 1,
               "trainer.max_time": None, "data.batch_size": 16, "model.warmup_steps": 1, "model.lr_decay_steps": 2,
               "model.config.hidden_size": 16, "model.config.embedding_dim": 8}  # fmt: skip
SMOKE_PHRASES = {"data.corpus_options": {"n_train": 96, "n_val": 16, "n_test": 16}}
SMOKE_TEST_WORDS = 16


def recipes(smoke: bool, long_epochs: int | None = None) -> dict[str, Recipe]:
    """Each result folder's :class:`Recipe` (``smoke``: shrunk; ``long_epochs``: the long regime's epochs from
    scratch, its cosine decay ending with the last one)."""
    out = {}
    for folder, (config, _) in RECIPES.items():
        overrides: dict[str, Any] = {}
        if smoke:
            overrides = {k: v for k, v in SMOKE_TRAIN.items() if v is not None}
            overrides |= {} if folder == "finetune" else SMOKE_PHRASES
        out[folder] = recipe = Recipe(folder, str(Path("benchmarks/configs") / config), overrides)
        if folder == "long-scratch" and long_epochs is not None:
            if long_epochs < 1:
                raise SystemExit(f"--long-epochs: got {long_epochs}, expected an integer >= 1")
            epochs = Recipe(folder, recipe.config, overrides | {"trainer.max_epochs": long_epochs})
            decay = max(1, epochs.total_steps() - int(epochs.options().get("model.warmup_steps") or 0))
            out[folder] = Recipe(folder, recipe.config, epochs.overrides | {"model.lr_decay_steps": decay})
    return out


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        serve_jobs(run_one)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regimes", nargs="+", choices=list(REGIMES), default=list(REGIMES))
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: 0 1 2 (--smoke: 0)")
    parser.add_argument("--base", default=None, help=f"the fine-tune regime's base model directory ({DEFAULT_BASE})")
    parser.add_argument("--finetune-arms", nargs="+", choices=list(ARM_LABELS), default=None,
                        help="default: all (--smoke: teacher-forcing ss-token)")  # fmt: skip
    parser.add_argument(
        "--long-arms", nargs="+", choices=[a for a in ARM_LABELS if a != CONTROL], default=None,
        help="the long regime's arms beside teacher forcing (default: the two best fine-tune arms by mean greedy "
        f"WER once it has results, else {' '.join(FALLBACK_LONG_ARMS)}; --smoke: ss-token)",
    )  # fmt: skip
    parser.add_argument("--long-epochs", type=int, default=None,
                        help="epochs of the long regime from scratch (default: ss-phrases.yaml's, 3)")  # fmt: skip
    parser.add_argument("--test-words", type=int, default=0, help="score only the first N test words/phrases (0: all)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run, fit and scoring together")
    add_run_options(parser, threads=1)
    parser.add_argument("--smoke", action="store_true", help="tiny models, 3 steps, seed 0, 2 arms per regime")
    args = parser.parse_args(argv)
    seeds = args.seeds or ([0] if args.smoke else [0, 1, 2])
    pin_cpus(args.cpus)  # the children inherit the CPUs
    runs_dir = args.results / "ss_regimes_runs"
    test_words = args.test_words or (SMOKE_TEST_WORDS if args.smoke else 0)
    recipe = recipes(args.smoke, args.long_epochs)
    base = args.base or (str(runs_dir / "smoke-base" / f"{CONTROL}_s0" / "model") if args.smoke else DEFAULT_BASE)
    long_base = str(runs_dir / "long-scratch" / f"{CONTROL}_s{seeds[0]}" / "model")
    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    meta: dict[str, Any] = {"device": "cpu", "threads": args.threads, "args": options,
                            "init_from": {"finetune": base, "long-finetune": long_base}}  # fmt: skip
    if "finetune" in args.regimes and not (args.smoke and not args.base) and not (Path(base) / "config.json").exists():
        raise SystemExit(
            f"ss_regimes.py: --base {base} holds no saved model (config.json); train it first (make "
            "bench-g2p-bahdanau, or lit-seq2seq fit ... --save_pretrained DIR) or pass --base DIR"
        )
    env = thread_env(args.threads)

    def job(folder: str, arm: str, tf: TeacherForcing, seed: int, steps: int, init_from: str | None) -> dict[str, Any]:
        run_dir = runs_dir / folder / f"{arm}_s{seed}"
        r = recipe["finetune" if folder == "smoke-base" else folder]
        settings = {"folder": folder, "arm": arm, "seed": seed, "total_steps": steps, "init_from": init_from,
                    "corpus": r.options()["data.corpus"], "test_words": test_words,
                    "fit": fit_command(r, tf, seed, run_dir, init_from)}  # fmt: skip
        return {"name": f"{folder}/{arm}_s{seed}", "settings": settings, "run_dir": str(run_dir)}

    def run(jobs: list[dict[str, Any]]) -> None:
        """The jobs in one child process (``--timeout`` per job), the report rewritten after each."""
        started = {"time": time.perf_counter()}
        names = [j["name"] for j in jobs]

        def done(j: dict[str, Any], result: dict[str, Any]) -> None:
            took = (time.perf_counter() - started["time"]) / 60
            if "error" in result:
                print(f"   {j['name']} failed: {result['error']}; see {j['run_dir']}/fit.log", flush=True)
            else:
                print(f"   [{names.index(j['name']) + 1}/{len(jobs)}] {j['name']}: WER greedy "
                      f"{result['greedy_wer']:.2f}, beam 5 {result['beam5_wer']:.2f}; PER greedy "
                      f"{result['greedy_per']:.2f}; train {result['train_minutes']:.1f} min ({took:.1f} min now)",
                      flush=True)  # fmt: skip
                write_report(args.results, meta)
            started["time"] = time.perf_counter()

        todo = [j for j in jobs if args.fresh or finished(runs_dir, j) is None]
        for j in todo:
            print(f"== {j['name']}: python {' '.join(j['settings']['fit'])}", flush=True)
        print(f"{len(jobs) - len(todo)} of {len(jobs)} runs finished before", flush=True)
        results = run_jobs([sys.executable, "-m", "benchmarks.ss_regimes", "--child"], jobs, runs_dir, env=env,
                           timeout=args.timeout * len(todo) if args.timeout else None, fresh=args.fresh,
                           on_result=done)  # fmt: skip
        failed = [j["name"] for j, r in zip(jobs, results, strict=True) if r is None or "error" in r]
        if failed:
            raise SystemExit(f"ss_regimes.py: {len(failed)} run(s) failed or were stopped: {', '.join(failed)}; "
                             "see their fit.log; run the same command again to resume")  # fmt: skip

    if "finetune" in args.regimes:
        steps = recipe["finetune"].total_steps()
        schedules = arms(steps)
        if args.smoke and not args.base:  # the smoke's own base: the fine-tune recipe trained from scratch
            run([job("smoke-base", CONTROL, TeacherForcing(), 0, steps, None)])
        chosen = args.finetune_arms or (["teacher-forcing", "ss-token"] if args.smoke else list(ARM_LABELS))
        run([job("finetune", arm, schedules[arm], seed, steps, base) for seed in seeds for arm in chosen])
    if "long" in args.regimes:
        best = None if args.long_arms or args.smoke else best_arms(args.results)
        long_arms = args.long_arms or (["ss-token"] if args.smoke else best or FALLBACK_LONG_ARMS)
        why = (
            "--long-arms"
            if args.long_arms or args.smoke
            else "the best fine-tune arms"
            if best
            else "no fine-tune runs"
        )
        print(f"long regime: teacher forcing against {', '.join(long_arms)} ({why})", flush=True)
        chosen = [CONTROL, *long_arms]  # the runs of other arms found in the folder stay in the report
        steps = recipe["long-scratch"].total_steps()
        schedules = arms(steps)
        run([job("long-scratch", arm, schedules[arm], seed, steps, None) for seed in seeds for arm in chosen])
        steps = recipe["long-finetune"].total_steps()
        schedules = arms(steps)
        run([job("long-finetune", arm, schedules[arm], seed, steps, long_base) for seed in seeds for arm in chosen])
    print(write_report(args.results, meta))


if __name__ == "__main__":
    main()
