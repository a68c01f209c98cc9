"""Inference speed and quality of one trained G2P model, served four ways (protocol: benchmarks/README.md).

Words per second and test WER/PER, greedy and beam 5 at batch 1 and 256, for ``lightning``
(``LitSeq2Seq.from_pretrained``), ``keras-<backend>`` (``Seq2SeqModel.from_pretrained``; with several backends
only the fastest on ``--pick-words`` runs the full set, unless ``--keras-all``), ``onnxruntime`` (``OnnxTranslator``
of the model's export) and ``g2p_en`` (the peer's network alone, greedy, one word at a time). The project rows load
the same ``--model`` directory (``benchmarks.g2p`` saves one). Each runner's rows run in one child process of
``benchmarks.common.run_jobs`` (result files in ``results/inference_<tag>_runs/``, read on a rerun).

    python -m benchmarks.inference --model MODEL --threads 1 --keras-all --tag g2p-cpu-t1-keras-all
    python -m benchmarks.inference --smoke                # every row, a tiny random model, 20 words
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import (
    RESULTS,
    add_run_options,
    keras_env,
    markdown_table,
    random_model,
    run_jobs,
    serve_jobs,
    set_backend_threads,
    thread_env,
    versions,
    write_results,
)

HERE = Path(__file__).resolve().parent
#: Decoding strategy name -> ``translate`` keyword arguments.
STRATEGIES: dict[str, Any] = {"greedy": {"strategy": "greedy"}, "beam5": {"strategy": "beam", "beam_width": 5}}
#: The measured settings, in run order: (strategy name, batch size).
SETTINGS = (("greedy", 256), ("beam5", 256), ("greedy", 1), ("beam5", 1))
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
#: The rows of each setting, in run order (Keras, the slowest at batch 1, last: a run cut short keeps the others).
RUNNERS = ("lightning", "onnxruntime", "g2p_en", "keras")
#: g2p_en's published figures on this project's split (benchmarks/README.md, Protocols).
G2P_EN_PUBLISHED = {"wer": 27.08, "per": 8.01}
#: The table's columns after runner, decoding and batch: (key, header, format).
COLUMNS = [("words", "words", ""), ("words_per_s", "words/s", ".1f"), ("ms_per_word", "ms/word", ".2f"),
           ("speed_vs_lightning", "x lightning", ".2f"), ("wer", "WER %", ".2f"), ("per", "PER %", ".2f"),
           ("differs_from_lightning", "differs", "d")]  # fmt: skip


def shown(path: Path | str) -> str:
    """``path`` relative to the repository when inside it (results name no home directories)."""
    try:
        return str(Path(path).resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


def directory_size(directory: Path) -> dict[str, Any]:
    """Total bytes of the files in ``directory`` and the size of each."""
    files = {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file()}
    return {"bytes": sum(files.values()), "files": files}


# -------------------------------------------------------------------------- child processes


def make_runner(name: str, model: Path, export: Path, threads: int) -> tuple[dict[str, Any], Callable[..., Any]]:
    """Load ``model`` for runner ``name``; returns its description and ``decode(sources, kwargs, batch_size)``."""
    if name == "g2p_en":
        predict, peer = g2p_en_predict()

        def decode(sources: Sequence[Sequence[str]], kwargs: dict[str, Any], batch: int) -> list[list[str]]:
            if kwargs != STRATEGIES["greedy"] or batch != 1:
                raise ValueError(f"g2p_en: greedy at batch 1 only, got {kwargs} at batch {batch}")
            return [predict("".join(word)) for word in sources]

        return {"python": platform.python_version(), **peer, "threads": threads}, decode
    if name == "onnxruntime":
        from seq2seq_fit.onnx_export import export_pretrained
        from seq2seq_fit.serving import OnnxTranslator

        start = time.perf_counter()
        export_pretrained(model, export)
        info = versions("onnxruntime", "onnx", "numpy") | {"export_s": time.perf_counter() - start}
        info |= {"threads": threads, "providers": ["CPUExecutionProvider"]}
        translator: Any = OnnxTranslator(export, threads=threads if threads > 0 else None)
    elif name == "lightning":
        set_backend_threads("torch", threads)
        from lit_seq2seq import LitSeq2Seq

        translator = LitSeq2Seq.from_pretrained(model).eval()
        info = versions("torch", "lightning", "numpy")
    elif name.startswith("keras-"):
        import keras

        backend = name.removeprefix("keras-")
        assert keras.backend.backend() == backend, (keras.backend.backend(), backend)
        set_backend_threads(backend, threads)
        from keras_seq2seq import Seq2SeqModel

        translator = Seq2SeqModel.from_pretrained(model)
        info = {"threads": threads} | versions(backend, "keras", "numpy") | {"xla_flags": os.environ.get("XLA_FLAGS")}
    else:
        raise ValueError(f"inference.runner: got {name!r}, expected lightning, keras-<backend>, onnxruntime or g2p_en")
    return info, lambda sources, kwargs, batch: translator.translate(sources, batch_size=batch, **kwargs)


def g2p_en_predict() -> tuple[Callable[[str], list[str]], dict[str, Any]]:
    """``g2p_en``'s network on one word, stress digits removed, without its NLTK downloads; and its version,
    parameter count and GRU width. Importing ``g2p_en`` downloads two NLTK data packages and ``G2p()`` reads NLTK's
    CMUdict for its dictionary lookup: here ``nltk.download`` does nothing and the dictionary is empty, so the
    constructor only builds the vocabularies and loads the network's weights (in the wheel)."""
    import importlib.metadata

    import nltk

    nltk.download = lambda *args, **kwargs: False  # what it returns when it fails; g2p_en ignores it
    import g2p_en.g2p as module

    class NoDictionary:
        @staticmethod
        def dict() -> dict[str, list[list[str]]]:
            return {}

    module.cmudict = NoDictionary  # type: ignore[assignment]
    g2p = module.G2p()
    info = {"g2p_en": importlib.metadata.version("g2p_en"), "hidden_size": int(g2p.enc_w_hh.shape[1]),
            "parameters": sum(int(g2p.variables[name].size) for name in g2p.variables.files)}  # fmt: skip
    return lambda word: [phone.rstrip("012") for phone in g2p.predict(word)], info


_RUNNERS: dict[str, tuple[dict[str, Any], Callable[..., Any]]] = {}


def decode_job(job: dict[str, Any]) -> dict[str, Any]:
    """One row in the runner's child process: decode ``job["sources"]`` after ``warmup`` of them untimed."""
    settings = job["settings"]
    name = settings["runner"]
    if name not in _RUNNERS:  # load the model once per process
        _RUNNERS[name] = make_runner(name, Path(job["model"]), Path(job["export"]), settings["threads"])
    info, decode = _RUNNERS[name]
    kwargs, batch, sources = STRATEGIES[settings["strategy"]], settings["batch_size"], job["sources"]
    warm = time.perf_counter()
    decode(sources[: settings["warmup"]], kwargs, batch)
    start = time.perf_counter()
    outputs = decode(sources, kwargs, batch)
    return {"outputs": outputs, "seconds": time.perf_counter() - start, "warmup_s": start - warm, "info": info}


# --------------------------------------------------------------------------------- the run


def spread(n_total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(n_total)`` (all of them for ``n <= 0`` or ``n >= n_total``): the
    test words are in alphabetical order, so a prefix would be a biased sample.

    Example:
        >>> spread(10, 3)
        [0, 3, 6]
    """
    return list(range(n_total)) if n <= 0 or n >= n_total else [i * n_total // n for i in range(n)]


def compare(rows: list[dict[str, Any]], outputs: dict[tuple[str, str, int], list[list[str]]]) -> None:
    """Each row's speed relative to the Lightning row of its setting and the words its outputs differ on."""
    for row in rows:
        key = (row["strategy"], row["batch_size"])
        base = next((r for r in rows if r["runner"] == "lightning" and (r["strategy"], r["batch_size"]) == key), None)
        mine, theirs = outputs.get((row["runner"], *key)), outputs.get(("lightning", *key))
        if base is None or mine is None or theirs is None or base["words"] != row["words"]:
            continue
        row["differs_from_lightning"] = sum(a != b for a, b in zip(mine, theirs, strict=True))
        if base.get("words_per_s") and row.get("words_per_s"):
            row["speed_vs_lightning"] = row["words_per_s"] / base["words_per_s"]


def results_table(rows: list[dict[str, Any]], pick: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The Markdown page: every row (a row without figures says why), onnxruntime's speed-ups, the Keras backend
    pick, the peer and the model."""
    mb = {k: f"{v['bytes'] / 1e6:.2f} MB" for k, v in meta.get("sizes", {}).items()}
    table = (
        f"# G2P inference on {meta['device']} ({meta['tag']})\n\nOne `save_pretrained` model (`{meta['config']}`), "
        f"{meta['threads']} thread(s) in every row; CMUdict test words of the fixed split in benchmarks/README.md "
        f"({meta['test_words']:,} in all; the words column says how many a row decoded, spread evenly over the "
        "alphabetical list). words/s times one `translate` call over all of them after a warm-up; x lightning is the "
        "speed ratio to the Lightning row of the same setting, measured in the same run; differs = words whose output "
        "differs from the Lightning row's.\n"
    )
    if mb:
        table += (f"Sizes: model directory {mb.get('model', '?')} ({meta.get('parameters', 0):,} parameters), ONNX "
                  f"export {mb.get('onnx_export', '?')}.\n")  # fmt: skip
    cells = []
    for row in rows:
        cell = {k: row[k] for k in ("runner", "strategy", "batch_size")}
        if "na" in row or "error" in row:
            cell["words_per_s"] = f"n/a ({row['na']})" if "na" in row else "failed: " + (
                row["error"].strip().splitlines()[-1][:120])  # fmt: skip
        else:
            cell |= {k: format(row[k], fmt) for k, _, fmt in COLUMNS if row.get(k) is not None}
        cells.append(cell)
    head = [("runner", "runner", ""), ("strategy", "decoding", ""), ("batch_size", "batch", "")]
    table += "\n" + markdown_table(cells, head + [(k, h, "") for k, h, _ in COLUMNS])
    speedups = []
    for row in (r for r in rows if r["runner"] == "onnxruntime" and r.get("words_per_s")):
        same = [r for r in rows if r is not row and r.get("words_per_s") and r["words"] == row["words"]
                and (r["strategy"], r["batch_size"]) == (row["strategy"], row["batch_size"])]  # fmt: skip
        others = [f"{row['words_per_s'] / r['words_per_s']:.2f}x {r['runner']}" for r in same]
        if others:
            speedups.append(f"- {row['strategy']} batch {row['batch_size']}: onnxruntime is " + ", ".join(others))
    if speedups:
        table += "\nonnxruntime's speed relative to the other rows (same setting and words):\n\n"
        table += "\n".join(speedups) + "\n"
    if pick:
        picked = meta.get("keras_backend_picked")
        ran = f"{picked}, the fastest at batch 1, ran the table above" if picked else "every backend ran the table"
        timed = [r | {"words_per_s": format(r["words_per_s"], ".1f") if r.get("words_per_s") else "failed"}
                 for r in pick]  # fmt: skip
        table += f"\nKeras backend pick (greedy; {ran}):\n\n" + markdown_table(timed, [
            ("runner", "backend", ""), ("batch_size", "batch", ""), ("words", "words", ""),
            ("words_per_s", "words/s", ""), ("wer", "WER %", ".2f")])  # fmt: skip
    peer = meta.get("versions", {}).get("g2p_en", {})
    network = f"GRU {peer['hidden_size']} encoder and decoder without attention, " if "hidden_size" in peer else ""
    network += f"{peer['parameters']:,} parameters; " if "parameters" in peer else ""
    table += (
        f"\ng2p_en {peer.get('g2p_en', '2.1.0')}: its network only ({network}`G2p.predict`, greedy, one word at a "
        "time, at most 20 phones, no NLTK, no dictionary lookup), stress digits removed; published on this split: "
        f"{G2P_EN_PUBLISHED['wer']}% WER / {G2P_EN_PUBLISHED['per']}% PER.\n"
    )
    if t := meta.get("training"):
        best = "" if t.get("best_val_wer") is None else f"{t['best_val_wer']:.2f}"
        table += (f"Model: {t['preset']} preset, Lightning, {t['variant']}, seed {t['seed']}, {t['epochs']} epochs in "
                  f"{t['train_minutes']:.1f} min (best dev WER {best}%).\n")  # fmt: skip
    return table


def run_benchmark(args: argparse.Namespace, sources: list[list[str]], references: list[Any]) -> Path:
    """Every row, each runner's rows in one child process (``benchmarks.common.run_jobs``: a row with a result file
    in ``results/inference_<tag>_runs/`` is read, not run again); results rewritten after each runner."""
    from seq2seq_fit import g2p_scores
    from seq2seq_fit.model_format import load_pretrained

    model = Path(args.model)
    export = Path(args.export) if args.export else model.parent / f"{model.name}-onnx"
    tag = args.tag or ("smoke" if args.smoke else f"{model.name}-t{args.threads}")
    stem, folder = f"inference_{tag}", RESULTS / f"inference_{tag}_runs"
    saved = load_pretrained(model)
    digest = hashlib.sha256((model / "config.json").read_bytes()).hexdigest()[:16]
    meta: dict[str, Any] = {
        "device": "cpu", "tag": tag, "threads": args.threads, "model": shown(model), "export": shown(export),
        "config": str(saved.config), "config_dict": saved.config.to_dict(), "test_words": len(sources),
        "args": {k: shown(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "platform": platform.platform(), "processor": platform.processor(), "sizes": {"model": directory_size(model)},
        "parameters": sum(int(w.size) for w in saved.weights.values()), "versions": {},
        "protocol": "one translate call per row after a warm-up on the first --warmup words; same words in every row",
    }  # fmt: skip
    rows: list[dict[str, Any]] = []
    pick: list[dict[str, Any]] = []
    outputs: dict[tuple[str, str, int], list[list[str]]] = {}

    def measure(name: str, settings: list[tuple[str, int, list[int]]], phase: str = "") -> list[dict[str, Any]]:
        """The rows of runner ``name``, one per ``(strategy, batch, word indices)``, in its child process."""
        env = thread_env(args.threads) | {"TF_CPP_MIN_LOG_LEVEL": "2"}
        if name.startswith("keras-"):
            env |= keras_env(name.removeprefix("keras-"), cpu_only=True, threads=args.threads)
        jobs = [
            {"name": f"{name}/{phase}{strategy}-b{batch}-w{len(index)}", "model": str(model), "export": str(export),
             "sources": [sources[i] for i in index],
             "settings": {"runner": name, "model": digest, "strategy": strategy, "batch_size": batch,
                          "words": index, "warmup": args.warmup, "threads": args.threads}}
            for strategy, batch, index in settings
        ]  # fmt: skip
        print(f"== {name}: {len(jobs)} row(s)", flush=True)
        with open(folder / "children.log", "a") as log:
            got = run_jobs([sys.executable, "-m", "benchmarks.inference", "--child"], jobs, folder, env=env, log=log,
                           fresh=args.fresh)  # fmt: skip
        out = []
        for (strategy, batch, index), reply in zip(settings, got, strict=True):
            reply = reply or {"error": f"{name}: the child process stopped; see {folder}/children.log"}
            meta["versions"].setdefault(name, reply.get("info", {}))
            row = {"runner": name, "strategy": strategy, "batch_size": batch, "words": len(index),
                   "load_avg_1min": os.getloadavg()[0]}  # fmt: skip  # the machine's other load, to read the times by
            if "error" in reply:
                print(f"!! {name} {strategy} batch {batch}: {reply['error']}", file=sys.stderr, flush=True)
                out.append(row | {"error": reply["error"]})
                continue
            scores, seconds = g2p_scores(reply["outputs"], [references[i] for i in index]), reply["seconds"]
            out.append(row | {"seconds": seconds, "warmup_s": reply["warmup_s"],
                              "words_per_s": len(index) / seconds if seconds > 0 else None,
                              "ms_per_word": 1000 * seconds / len(index), "wer": scores.wer, "per": scores.per,
                              "word_errors": scores.word_errors})  # fmt: skip
            if not phase:
                outputs[(name, strategy, batch)] = reply["outputs"]
        return out

    def save() -> None:
        compare(rows, outputs)
        picked = [{**r, "phase": "keras-pick"} for r in pick]
        write_results(stem, [*rows, *picked], meta, results_table(rows, pick, meta))

    folder.mkdir(parents=True, exist_ok=True)
    names = [r for r in RUNNERS if r in args.rows and r != "keras"]
    keras = [f"keras-{b}" for b in args.keras_backends] if "keras" in args.rows else []
    if len(keras) > 1:  # the Keras backend pick: greedy at batch 1 and 256 on a few words
        pick_index = spread(len(sources), args.pick_words)
        for name in keras:
            pick += measure(name, [("greedy", batch, pick_index) for batch in (1, 256)], phase="pick-")
        save()
        if not args.keras_all:
            timed = [r for r in pick if r["batch_size"] == 1 and r.get("words_per_s")]
            meta["keras_backend_picked"] = max(timed, key=lambda r: r["words_per_s"])["runner"] if timed else keras[0]
            keras = [meta["keras_backend_picked"]]
    for name in names + keras:
        settings = []
        for strategy, batch in SETTINGS:
            if name == "g2p_en" and (strategy != "greedy" or batch != 1):
                na = "no batching" if batch != 1 else "greedy only"
                rows.append({"runner": name, "strategy": strategy, "batch_size": batch, "na": na})
                continue
            count = args.batch1_words if batch == 1 and args.batch1_words else args.words
            settings.append((strategy, batch, spread(len(sources), count)))
        rows += measure(name, settings)
        if name == "onnxruntime" and export.exists():
            meta["sizes"]["onnx_export"] = directory_size(export)
        save()
    order = {(n, s, b): i for i, (n, (s, b)) in enumerate((n, sb) for sb in SETTINGS for n in names + keras)}
    rows.sort(key=lambda r: order.get((r["runner"], r["strategy"], r["batch_size"]), 0))
    save()
    print(results_table(rows, pick, meta))
    return RESULTS / f"{stem}.json"


def main(argv: list[str] | None = None) -> Path | None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        serve_jobs(decode_job)
        return None
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=HERE / "models" / "g2p-cpu", help="save_pretrained directory")
    parser.add_argument("--export", type=Path, default=None, help="ONNX export directory (default: <model>-onnx)")
    add_run_options(parser, threads=1, cpus=False, results=False)
    parser.add_argument("--rows", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    parser.add_argument("--keras-backends", nargs="+", default=list(KERAS_BACKENDS), choices=list(KERAS_BACKENDS))
    parser.add_argument("--keras-all", action="store_true", help="every Keras backend runs the full table")
    parser.add_argument("--pick-words", type=int, default=300, help="words of the Keras backend pick")
    parser.add_argument("--words", type=int, default=0, help="decode N test words spread over the list (0: all)")
    parser.add_argument("--batch1-words", type=int, default=0, help="words of the batch-1 rows (0: as --words)")
    parser.add_argument("--warmup", type=int, default=32, help="untimed words decoded first in each row")
    parser.add_argument("--tag", default="", help="results/inference_<tag>.* (default: <model name>-t<threads>)")
    parser.add_argument("--smoke", action="store_true", help="a tiny random model and 20 words, every code path")
    args = parser.parse_args(argv)

    from datamodules import load_corpus

    sources, references = load_corpus("cmudict").references("test")
    if args.smoke:  # a random model of the cpu preset's shape at a tiny size
        from seq2seq_fit import Seq2SeqConfig, Vocab
        from seq2seq_fit.presets import PRESETS

        index = spread(len(sources), 20)
        sources, references = [sources[i] for i in index], [references[i] for i in index]
        workdir = Path(tempfile.mkdtemp(prefix="inference-smoke-"))
        args.model, args.export = workdir / "model", workdir / "model-onnx"
        args.pick_words, args.warmup, args.fresh = 8, 2, True
        config = Seq2SeqConfig(**{**PRESETS["cpu"].to_dict(), "embedding_dim": 8, "hidden_size": 16})
        tgt = Vocab.build(r for refs in references for r in refs)
        random_model(args.model, config, Vocab.build(sources), tgt, 0.5)
    if not (Path(args.model) / "config.json").exists():
        raise SystemExit(
            f"inference.py --model: {args.model} holds no saved model; give a save_pretrained directory (a "
            "benchmarks.g2p run saves one in results/g2p_<tag>_runs/<run>/model)"
        )
    try:
        return run_benchmark(args, sources, references)
    finally:
        if args.smoke:
            shutil.rmtree(Path(args.model).parent, ignore_errors=True)


if __name__ == "__main__":
    main()
