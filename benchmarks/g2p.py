"""Model quality on a real task: grapheme-to-phoneme on CMUdict (split and scoring: benchmarks/README.md).

A thin driver over the shipped training commands: for each teacher-forcing variant and seed it runs
``lit-seq2seq fit`` or ``keras-seq2seq fit`` with the ``--config`` file (the recipe), the variant's options, the
seed, a run folder and ``--save_pretrained``, then scores the saved model on the test words, greedy and beam 5.
Each run is a job of ``benchmarks.common.run_jobs`` (result file ``results/g2p_<tag>_runs/<variant>_s<seed>.json``,
the fit command's own output in the folder of that name): the same command again reads a finished run and resumes
an unfinished one inside its ``fit`` command. ``--combine`` merges the runs of several tags into one table.

    python -m benchmarks.g2p --framework lightning --config benchmarks/configs/g2p-cpu-bahdanau-384.yaml \\
        --seeds 0 1 --threads 1 --tag lightning-cpu-bahdanau-384
    python -m benchmarks.g2p --combine lightning-cpu-bahdanau-384 keras-cpu-bahdanau-384 --tag cpu-bahdanau-384
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    add_run_options,
    config_text,
    keras_env,
    markdown_table,
    pin_cpus,
    run_jobs,
    serve_jobs,
    thread_env,
    write_results,
)
from seq2seq_fit import TeacherForcing

VARIANTS: dict[str, TeacherForcing] = {
    "teacher-forcing": TeacherForcing(),
    "ss-sequential": TeacherForcing(schedule="linear", start=1.0, end=0.75, decay_steps=8000, mode="sequential"),
    "ss-parallel": TeacherForcing(schedule="linear", start=1.0, end=0.75, decay_steps=8000, mode="parallel"),
}
#: The peer package's published figures on this project's split, all 12,533 test words.
G2P_EN = {"version": "2.1.0", "model": "GRU-256 encoder-decoder, no attention", "wer": 27.08, "per": 8.01}
PUBLISHED = [
    ("Sequitur G2P (joint n-gram)", "24.5", "5.9"),
    ("Phonetisaurus (WFST)", "24.4", "-"),
    ("Yao & Zweig 2015, encoder-decoder LSTM", "~28.6", "~7.6"),
    ("Yao & Zweig 2015, bi-directional LSTM", "23.6", "5.5"),
    ("Toshniwal & Livescu 2016, attention (single)", "~21.7", "~5.0"),
    ("CMUSphinx g2p-seq2seq, LSTM 2x512", "23.3", "-"),
    ("Sun et al. 2019, transformer + distillation", "19.9", "4.6"),
]
#: How each ``fit`` spells the options the driver sets: corpus, seed, run folder.
FIT_FLAGS = {
    "lightning": {"corpus": "--data.corpus", "seed": "--seed_everything", "output": "--trainer.default_root_dir"},
    "keras": {"corpus": "--data.corpus", "seed": "--seed", "output": "--output"},
}
#: Test scores of a run, shown in the table as "mean ± sd"; summarised with the time and epochs per
#: (framework, variant) over the seeds.
SCORE_KEYS = ("greedy_wer", "greedy_per", "beam5_wer", "beam5_per")
SUMMARY_KEYS = (*SCORE_KEYS, "train_minutes", "epochs")
#: Compile counts in results from before the driver ran the shipped commands (Keras runs recorded them).
COMPILE_KINDS = ("train", "test", "predict")
#: Arguments that change what a run's scores mean: ``--combine`` refuses to average runs that differ in any of them
#: (the older keys are those of results written before the driver ran ``fit``).
PROTOCOL_ARGS = ("config", "corpus", "test_words", "max_epochs", "lr", "lr_schedule", "min_lr_ratio", "batch_size",
                 "patience", "val_batches", "limit_train_batches", "precision")  # fmt: skip


def fit_command(framework: str, backend: str | None, config: str | None, variant: str, seed: int, corpus: str,
                run_dir: Path, extra: list[str]) -> list[str]:  # fmt: skip
    """The shipped ``fit`` command of one run, after the Python interpreter.

    Example:
        >>> " ".join(fit_command("lightning", None, "c.yaml", "teacher-forcing", 1, "cmudict", Path("r"), []))
        '-m lit_seq2seq.cli fit --config c.yaml --data.corpus cmudict --seed_everything 1 --data.seed 1 \
--trainer.default_root_dir r --save_pretrained r/model --trainer.logger CSVLogger --trainer.logger.save_dir r \
--ckpt_path last'
    """
    flags = FIT_FLAGS[framework]
    command = ["-m", "lit_seq2seq.cli" if framework == "lightning" else "keras_seq2seq.cli", "fit"]
    command += ["--backend", backend] if backend else []
    command += ["--config", config] if config else []
    command += [flags["corpus"], corpus, flags["seed"], str(seed)]
    if framework == "lightning":
        command += ["--data.seed", str(seed)]  # the batch order, as keras-seq2seq fit --seed sets it
    defaults = TeacherForcing()
    for key, value in VARIANTS[variant].to_dict().items():
        command += [f"--model.teacher_forcing.{key}", str(value)] if value != getattr(defaults, key) else []
    command += [flags["output"], str(run_dir), "--save_pretrained", str(run_dir / "model"), *extra]
    if framework == "lightning":  # the dev curve in <run_dir>/lightning_logs/*/metrics.csv; resume a run cut off
        command += ["--trainer.logger", "CSVLogger", "--trainer.logger.save_dir", str(run_dir), "--ckpt_path", "last"]
    return command


def load_model(framework: str, directory: Path) -> Any:
    """The model ``fit`` saved in ``<directory>/model`` (``--save_pretrained``), on the CPU."""
    if framework == "lightning":
        from lit_seq2seq import LitSeq2Seq

        return LitSeq2Seq.from_pretrained(directory / "model").eval()
    from keras_seq2seq import Seq2SeqModel

    return Seq2SeqModel.from_pretrained(directory / "model")


def curve(run_dir: Path) -> list[dict[str, float | None]]:
    """The dev WER per epoch from the run's CSV log (Keras ``history.csv``, Lightning ``metrics.csv``)."""
    points: dict[float, dict[str, float | None]] = {}
    for path in sorted(run_dir.rglob("history.csv")) + sorted(run_dir.rglob("metrics.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                if wer := row.get("val_wer") or row.get("val/wer"):
                    step = float(row["step"]) if row.get("step") else None  # Keras' history.csv has none
                    points[float(row["epoch"])] = {"epoch": float(row["epoch"]), "step": step, "val_wer": float(wer)}
    return [points[e] for e in sorted(points)]


def score(model: Any, corpus: str, test_words: int) -> dict[str, Any]:
    """Test WER/PER with greedy decoding and beam 5 (any-reference WER, closest-reference PER)."""
    from datamodules import load_corpus
    from seq2seq_fit import g2p_scores

    sources, references = load_corpus(corpus).references("test")
    if test_words:
        sources, references = sources[:test_words], references[:test_words]
    scores: dict[str, Any] = {"test_words": len(sources)}
    for name, kwargs in (("greedy", {"strategy": "greedy"}), ("beam5", {"strategy": "beam", "beam_width": 5})):
        start = time.perf_counter()
        s = g2p_scores(model.translate(sources, batch_size=512, **kwargs), references)
        scores |= {f"{name}_wer": s.wer, f"{name}_per": s.per, f"{name}_decode_s": time.perf_counter() - start}
    return scores


def fit_seconds(run_dir: Path) -> float:
    """Training time of a run over all its invocations: Lightning's own clock (the ``Timer`` state in
    ``checkpoints/last.ckpt``, which a resumed fit carries on), else the summed wall time of the ``fit`` commands."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.exists():
        import torch

        state = torch.load(last, map_location="cpu", weights_only=True).get("callbacks", {})
        for key, value in state.items():
            if key.startswith("Timer"):
                return float(value["time_elapsed"]["train"])
    return sum(float(line) for line in (run_dir / "fit_seconds.txt").read_text().split())


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """A job in the child: run (or resume) the ``fit`` command, then score what it saved."""
    settings, run_dir = job["settings"], Path(job["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        with open(run_dir / "fit.log", "a") as log:
            subprocess.run([sys.executable, *settings["fit"]], stdout=log, stderr=subprocess.STDOUT, check=True)
    finally:  # a resumed run's time is the sum of its invocations
        with open(run_dir / "fit_seconds.txt", "a") as f:
            f.write(f"{time.perf_counter() - started:.1f}\n")
    model, points = load_model(settings["framework"], run_dir), curve(run_dir)
    run = {"framework": job["label"], "variant": settings["variant"], "seed": settings["seed"],
           "train_minutes": fit_seconds(run_dir) / 60, "epochs": len(points),
           "steps": points[-1]["step"] if points else None, "curve": points,
           "config": model.config.to_dict()}  # fmt: skip
    return run | score(model, settings["corpus"], settings["test_words"])


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation over the seeds of each (framework, variant); with one seed the deviation
    is ``None`` and the table shows the value alone."""
    summary = []
    for framework, variant in dict.fromkeys((r["framework"], r["variant"]) for r in runs):
        rs = [r for r in runs if r["framework"] == framework and r["variant"] == variant]
        row: dict[str, Any] = {"framework": framework, "variant": variant, "seeds": len(rs)}
        for key in SUMMARY_KEYS:
            values = [float(r[key]) for r in rs]
            row[key] = statistics.mean(values)
            row[key + "_sd"] = sd = statistics.stdev(values) if len(values) > 1 else None  # undefined for one seed
            if key in SCORE_KEYS:
                row[key + "_text"] = f"{row[key]:.2f}" if sd is None else f"{row[key]:.2f} ± {sd:.2f}"
        if compiles := [r["compiles"] for r in rs if r.get("compiles")]:  # Keras: compiles or traces, seed mean
            row["compiles_text"] = "/".join(
                format(statistics.mean(c.get(kind, 0) for c in compiles), "g") for kind in COMPILE_KINDS
            )
            seconds = [c["seconds"] for c in compiles if c.get("seconds") is not None]
            row["compile_s"] = statistics.mean(seconds) if seconds else None
        summary.append(row)
    return summary


def results_table(title: str, summary: list[dict[str, Any]], config: dict[str, Any], test_words: int) -> str:
    """The Markdown results: ours (mean ± sd over seeds), then the published numbers."""
    cols = [("framework", "framework", ""), ("variant", "teacher forcing", ""), ("seeds", "seeds", "d")]
    cols += [(f"{k}_text", f"{k[-3:].upper()} {k[:-4]} %", "") for k in SCORE_KEYS]
    cols += [("epochs", "epochs", ".1f"), ("train_minutes", "train min", ".1f")]
    if any("compiles_text" in row for row in summary):
        cols += [("compiles_text", "compiles train/test/predict", ""), ("compile_s", "compile s", ".1f")]
    published = [dict(zip(("system", "wer", "per"), row, strict=True)) for row in PUBLISHED]
    return (
        f"# {title}\n\nSplit: the fixed CMUdict split of benchmarks/README.md (12,533 test words"
        f"{', first ' + str(test_words) if test_words else ''}). Config: `{config_text(config)}`.\n"
        "Mean ± sample standard deviation over the seeds; train min is the wall time of the fit command, "
        f"machine load included.\n\n{markdown_table(summary, cols)}\n"
        f"Peer, measured on the same split: `g2p_en` {G2P_EN['version']} ({G2P_EN['model']}), WER {G2P_EN['wer']:.2f} "
        f"%, PER {G2P_EN['per']:.2f} % (greedy; it saw most of the test words in training).\n\n"
        "Published (older standard split, 12,000 test words: compare loosely)\n\n"
        + markdown_table(published, [("system", "system", ""), ("wer", "WER %", ""), ("per", "PER %", "")])
    )


def plot_curves(runs: list[dict[str, Any]], path: Path) -> None:
    """Dev WER after each epoch, mean over the seeds with their range, per (framework, variant)."""
    try:
        from seq2seq_fit.plots import _pyplot

        plt = _pyplot()
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=120)
    for framework, variant in dict.fromkeys((r["framework"], r["variant"]) for r in runs):
        curves = [r["curve"] for r in runs if r["framework"] == framework and r["variant"] == variant and r["curve"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)  # early stopping may end a seed sooner
        epochs = [curves[0][i]["epoch"] + 1 for i in range(n)]
        wers = [[c[i]["val_wer"] for c in curves] for i in range(n)]
        label = f"{framework} {variant} ({len(curves)} seed{'s' if len(curves) > 1 else ''})"
        (line,) = ax.plot(epochs, [statistics.mean(w) for w in wers], marker="o", ms=3, label=label)
        if len(curves) > 1:
            ax.fill_between(epochs, [min(w) for w in wers], [max(w) for w in wers], color=line.get_color(), alpha=0.2)
    ax.set(xlabel="epoch", ylabel="dev WER % (greedy)", title="CMUdict G2P learning curves")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_tag(tag: str, runs: list[dict[str, Any]], meta: dict[str, Any], title: str, results: Path) -> str:
    """``<results>/g2p_<tag>.json`` / ``.md`` / ``_curves.png`` from ``runs``; returns the table."""
    summary = summarise(runs)
    table = results_table(title, summary, meta["config"], meta["args"].get("test_words", 0))
    if "combined" in meta:
        table += "\nCombined from " + ", ".join(f"`g2p_{t}.json`" for t in meta["combined"]) + ".\n"
    write_results(f"g2p_{tag}", runs + summary, meta, table, results=results)
    plot_curves(runs, results / f"g2p_{tag}_curves.png")
    return table


def combine(tags: list[str], out: str, results: Path) -> None:
    """One table and one plot from the runs of several result files (``g2p_<tag>.json``), e.g. one file per variant
    or per framework, run at different times or on several machines."""
    files = []
    for path in (results / f"g2p_{tag}.json" for tag in tags):
        if not path.exists():
            raise SystemExit(f"g2p.py --combine: {path} does not exist")
        files.append(json.loads(path.read_text()))
    metas = [data["meta"] for data in files]
    if len(configs := {json.dumps(m["config"], sort_keys=True) for m in metas}) != 1:
        raise SystemExit(f"g2p.py --combine: the files hold different model configs: {sorted(configs)}")
    for key in PROTOCOL_ARGS:
        if len(values := {json.dumps(m["args"].get(key)) for m in metas}) != 1:
            raise SystemExit(
                f"g2p.py --combine: the files hold different --{key.replace('_', '-')}: {sorted(values)} "
                "(runs of different training budgets or protocols are not seeds of one result)"
            )
    devices = sorted({str(m["device"]) for m in metas})
    runs = [row for data in files for row in data["rows"] if "seed" in row]
    meta = {"device": devices, "combined": tags, "config": metas[0]["config"], "args": metas[0]["args"],
            "sources": metas}  # fmt: skip
    print(write_tag(out, runs, meta, f"CMUdict G2P on {', '.join(devices)} ({out})", results))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        serve_jobs(run_one)
        return
    argv, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="After --: more options of fit.")
    parser.add_argument("--framework", default="lightning", choices=list(FIT_FLAGS))
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"], default="jax", help="Keras backend")
    parser.add_argument("--config", default=None, help="the fit command's config file (benchmarks/configs/*.yaml)")
    parser.add_argument("--variants", nargs="+", default=["teacher-forcing"], choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--corpus", default="cmudict", help="the fit command's corpus; scored on its test split")
    parser.add_argument("--test-words", type=int, default=0, help="score only the first N test words (0: all)")
    add_run_options(parser)
    parser.add_argument("--gpu", action="store_true", help="leave the GPU visible to Keras (default: CPU only)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run, fit and scoring together")
    parser.add_argument("--tag", default="")
    merge = "train nothing: merge the runs of results/g2p_TAG.json files into results/g2p_<--tag>.*"
    parser.add_argument("--combine", nargs="+", metavar="TAG", default=None, help=merge)
    args = parser.parse_args(argv)
    if args.combine:
        if not args.tag:
            parser.error("--combine needs --tag, the name of the merged results")
        combine(args.combine, args.tag, args.results)
        return
    pin_cpus(args.cpus)  # the children inherit the CPUs
    keras = args.framework == "keras"
    label = f"keras-{args.backend}" if keras else "lightning"
    tag = args.tag or label
    workdir = args.results / f"g2p_{tag}_runs"
    env = thread_env(args.threads) | (keras_env(args.backend, not args.gpu, args.threads) if keras else {})
    protocol = {"config": args.config, "corpus": args.corpus, "test_words": args.test_words, "fit_args": extra}
    meta = {"device": "gpu" if args.gpu else "cpu", "threads": args.threads, "args": protocol}
    runs: list[dict[str, Any]] = []
    table = ""
    for variant in args.variants:
        for seed in args.seeds:
            run_dir = workdir / f"{variant}_s{seed}"
            command = fit_command(args.framework, args.backend if keras else None, args.config, variant, seed,
                                  args.corpus, run_dir, extra)  # fmt: skip
            settings = {"framework": args.framework, "variant": variant, "seed": seed, "corpus": args.corpus,
                        "test_words": args.test_words, "fit": command}  # fmt: skip
            job = {"name": run_dir.name, "settings": settings, "run_dir": str(run_dir), "label": label}
            print(f"== {label} {job['name']}: python {' '.join(command)}", flush=True)
            (run,) = run_jobs([sys.executable, "-m", "benchmarks.g2p", "--child"], [job], workdir, env=env,
                              timeout=args.timeout, fresh=args.fresh)  # fmt: skip
            if run is None or "error" in run:
                why = (run or {}).get("error", "stopped")
                raise SystemExit(f"g2p.py: run {job['name']} failed: {why}; see {run_dir}/fit.log")
            runs.append(run)
            print({k: v for k, v in run.items() if k not in ("curve", "config")}, flush=True)
            meta["config"] = run["config"]
            table = write_tag(tag, runs, meta, f"CMUdict G2P ({tag})", args.results)
    print(table)


if __name__ == "__main__":
    main()
