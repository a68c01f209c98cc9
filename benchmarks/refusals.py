"""What each hostile or broken input costs before it is refused: time and extra peak memory per case.

Every case of :data:`CASES` runs in a fresh child process (``benchmarks.common.run_jobs``) capped at
:data:`MEMORY_CAP` of address space: it builds its input in a temporary directory (small models, sparse files for
huge ones; a file edited after it was written gets its entry in ``config.json`` ``files`` updated, so the case
measures the check behind the checksums), then times the one call a user makes under a :data:`TIME_LIMIT` alarm,
recording the exception, the call's wall time and its extra peak memory (``VmHWM`` after minus ``VmRSS`` before).

    python -m benchmarks.refusals                      # every case: results/refusals.json and .md
    python -m benchmarks.refusals --case nan_onnx      # one case, printed
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS, random_model, run_jobs, serve_jobs

REPO = RESULTS.parents[1]
#: Seconds a case's call may take: then SIGALRM kills the child ("timeout").
TIME_LIMIT = 20
#: The children's address-space cap.
MEMORY_CAP = 4 << 30
TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefgh"]
TINY: dict[str, Any] = {"embedding_dim": 6, "hidden_size": 8}
SECRET = "SECRET-7f3a"
Build = Callable[[Path], Callable[[], Any]]


# -- inputs ------------------------------------------------------------------------------------------


def model_directory(out: Path) -> Path:
    """A tiny model directory written by ``save_pretrained`` from random weights."""
    from seq2seq_fit import Seq2SeqConfig

    return random_model(out, Seq2SeqConfig(**TINY), TOKENS, TOKENS)


def onnx_export(out: Path, tgt_tokens: list[str] = TOKENS) -> Path:
    from seq2seq_fit.model_format import load_pretrained
    from seq2seq_fit.onnx_export import export_onnx
    from seq2seq_fit.weight_layout import canonical_shapes

    saved = load_pretrained(model_directory(out.with_name(out.name + "-model")))
    weights = dict(saved.weights)
    for key, shape in canonical_shapes(saved.config, len(TOKENS), len(tgt_tokens)).items():
        weights[key] = weights[key] if weights[key].shape == shape else np.zeros(shape, np.float32)
    return export_onnx(out, config=saved.config, teacher_forcing=saved.teacher_forcing, src_vocab=TOKENS,
                       tgt_vocab=tgt_tokens, weights=weights)  # fmt: skip


def relist(directory: Path) -> None:
    """Update the size and sha256 of each file ``config.json`` lists (if it lists them) to the files now there."""
    index = directory / "config.json"
    data = json.loads(index.read_text())
    for name in data.get("files", {}):
        digest = hashlib.sha256()
        with (directory / name).open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        data["files"][name] = {"bytes": (directory / name).stat().st_size, "sha256": digest.hexdigest()}
    index.write_text(json.dumps(data, indent=2))


def edit_json(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def lit_module() -> Any:
    import torch

    from lit_seq2seq import LitSeq2Seq

    torch.manual_seed(0)
    return LitSeq2Seq(TOKENS, TOKENS, TINY)


def sparse(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def rezip(path: Path, write: Callable[[zipfile.ZipFile, dict[str, bytes]], None], **options: Any) -> None:
    """Rewrite the zip file ``path``: ``write(new_zip, old_members)``."""
    with zipfile.ZipFile(path) as old:
        members = {info.filename: old.read(info) for info in old.infolist()}
    with zipfile.ZipFile(path, "w", **options) as new:
        write(new, members)


def zip_bomb(new: zipfile.ZipFile, members: dict[str, bytes]) -> None:
    """The members with 3 GB of JSON whitespace before the real ``config.json``."""
    for name, data in members.items():
        if name != "config.json":
            new.writestr(name, data)
    with new.open("config.json", "w", force_zip64=True) as member:
        for _ in range(3000):
            member.write(b" " * (1 << 20))
        member.write(members["config.json"])


def keras_hidden(size: int) -> Callable[[zipfile.ZipFile, dict[str, bytes]], None]:
    """The members with ``hidden_size`` set to ``size`` in ``config.json``."""

    def write(new: zipfile.ZipFile, members: dict[str, bytes]) -> None:
        config = json.loads(members["config.json"])
        config["config"]["config"]["hidden_size"] = size
        for name, data in {**members, "config.json": json.dumps(config).encode()}.items():
            new.writestr(name, data)

    return write


def nan_weight(root: Path) -> None:
    path = root / "model.safetensors"
    blob = bytearray(path.read_bytes())
    n = int.from_bytes(blob[:8], "little")
    blob[8 + n : 8 + n + 4] = np.float32(np.nan).tobytes()
    path.write_bytes(bytes(blob))
    relist(root)


def extra_tensor(root: Path, count: int) -> None:
    path = root / "model.safetensors"
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header, body = json.loads(blob[8 : 8 + n]), blob[8 + n :]
    header["decoder.extra"] = {"dtype": "F32", "shape": [count], "data_offsets": [len(body), len(body) + 4 * count]}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with path.open("wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + body)
        f.truncate(8 + len(text) + len(body) + 4 * count)  # sparse: the tensor's bytes cost no disk
    relist(root)


def config_text(root: Path, old: str, new: str) -> None:
    (root / "config.json").write_text((root / "config.json").read_text().replace(old, new))


def vocab_symlink(root: Path) -> None:
    secret = root.parent / "secret.json"
    secret.write_text(json.dumps({"api_key": SECRET, "config": {"source": SECRET}}))
    (root / "vocab.json").unlink()
    (root / "vocab.json").symlink_to(secret)
    relist(root)


def edit_graph(root: Path, name: str, edit: Callable[[Any], None]) -> None:
    import onnx

    model = onnx.load(os.fspath(root / name))
    edit(model)
    onnx.save_model(model, os.fspath(root / name))
    relist(root)


def nan_initializer(model: Any) -> None:
    from onnx import numpy_helper

    init = next(i for i in model.graph.initializer if i.data_type == 1 and i.dims)
    array = numpy_helper.to_array(init).copy()
    array.reshape(-1)[0] = np.nan
    init.CopyFrom(numpy_helper.from_array(array, init.name))


def bad_export_json(root: Path) -> None:
    edit_json(root / "export.json", lambda d: d.update(encoder=7))
    relist(root)


def bad_config_metadata(model: Any) -> None:
    next(p for p in model.metadata_props if p.key == "seq2seq_fit.config").value = "{"


def other_decoder(root: Path, tokens: list[str]) -> None:
    other = onnx_export(root.parent / "other", tokens)
    (root / "decoder.onnx").write_bytes((other / "decoder.onnx").read_bytes())
    relist(root)


def swap_graphs(root: Path) -> None:
    encoder, decoder = (root / "encoder.onnx").read_bytes(), (root / "decoder.onnx").read_bytes()
    (root / "encoder.onnx").write_bytes(decoder)
    (root / "decoder.onnx").write_bytes(encoder)
    relist(root)


# -- cases: each builds its input in a temporary directory and returns the one call a user makes -------


def vocab_duplicate(tmp: Path, size: int) -> Callable[[], Any]:
    from seq2seq_fit import Vocab

    tokens = TOKENS[:4] + [f"t{i}" for i in range(size)] + ["t7"]
    return lambda: Vocab(tokens)


def lit_checkpoint(
    tmp: Path, edit: Callable[[dict[str, Any]], None] = lambda c: None, cut: bool = False, cli: bool = False
) -> Callable[[], Any]:
    """A checkpoint of a tiny ``LitSeq2Seq`` as ``Trainer.save_checkpoint`` writes it, after ``edit`` (``cut``:
    truncated to half), loaded by ``load_from_checkpoint`` (``cli``: by ``lit-seq2seq translate``)."""
    import lightning.pytorch as pl
    import torch

    from lit_seq2seq import LitSeq2Seq
    from lit_seq2seq.cli import translate_main

    module, path = lit_module(), tmp / "m.ckpt"
    ckpt = {"epoch": 0, "global_step": 0, "pytorch-lightning_version": pl.__version__, "hparams_name": "kwargs",
            "state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}  # fmt: skip
    edit(ckpt)
    torch.save(ckpt, path)
    if cut:
        os.truncate(path, path.stat().st_size // 2)
    if cli:
        return lambda: translate_main(["--model", os.fspath(path), "a b"])
    return lambda: LitSeq2Seq.load_from_checkpoint(path)


def inf_weight(ckpt: dict[str, Any]) -> None:
    name = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][name] = ckpt["state_dict"][name].clone().fill_(float("inf"))


def keras_load(tmp: Path, edit: Callable[..., None] | None = None, nan: bool = False, **zip_options: Any) -> Any:
    """A tiny ``Seq2SeqModel`` saved as ``.keras`` (``nan``: with a NaN weight), rewritten by ``edit``
    (:func:`rezip`), loaded by ``keras_seq2seq.load_model``."""
    from keras_seq2seq import Seq2SeqModel, load_model

    model = Seq2SeqModel(TOKENS, TOKENS, TINY)
    model.translate(["a"], max_length=2)  # builds the weights
    if nan:
        value = np.array(model.weights[0].numpy())
        value.reshape(-1)[0] = np.nan
        model.weights[0].assign(value)
    path = tmp / "m.keras"
    model.save(path)
    if edit is not None:
        rezip(path, edit, **zip_options)
    return lambda: load_model(path)


def pretrained(tmp: Path, edit: Callable[[Path], None], lit: bool = False) -> Callable[[], Any]:
    """``load_pretrained`` (``lit``: ``LitSeq2Seq.from_pretrained``) of a tiny model directory after ``edit``."""
    from lit_seq2seq import LitSeq2Seq
    from seq2seq_fit.model_format import load_pretrained

    root = model_directory(tmp / "model")
    edit(root)
    return (lambda: LitSeq2Seq.from_pretrained(root)) if lit else lambda: load_pretrained(root)


def onnx_translate(tmp: Path, edit: Callable[[Path], None]) -> Callable[[], Any]:
    """``OnnxTranslator`` of a tiny export after ``edit``, translating one source."""
    from seq2seq_fit.serving import OnnxTranslator

    root = onnx_export(tmp / "export")
    edit(root)
    return lambda: OnnxTranslator(root, threads=1).translate(["a b c"])


def translate(tmp: Path, sources: tuple[str, ...] = ("a b c",), **options: Any) -> Callable[[], Any]:
    module = lit_module().eval()
    return lambda: module.translate(list(sources), **options)


def corpus(tmp: Path, make: Callable[[Path], Path]) -> Callable[[], Any]:
    from datamodules import load_corpus

    path = make(tmp / "corpus.tsv")
    return lambda: f"{len(load_corpus(path).train)} training pairs"


def sources_file(tmp: Path, make: Callable[[Path], Path]) -> Callable[[], Any]:
    from seq2seq_fit.cli.sources import read_sources

    path = make(tmp / "sources.txt")
    return lambda: len(read_sources([], os.fspath(path)))


def tsv_cr_only(tmp: Path) -> Callable[[], Any]:
    from datamodules import load_corpus

    path = tmp / "corpus.tsv"
    path.write_bytes(b"a b\tx y\rc\tz\rd e f\tw\r")

    def read() -> str:
        corpus = load_corpus(path)
        return f"{len(corpus.train) + len(corpus.val) + len(corpus.test)} pairs"

    return read


def hidden_size(size: int) -> Callable[[dict[str, Any]], None]:
    return lambda ckpt: ckpt["hyper_parameters"]["config"].update(hidden_size=size)


DEV_ZERO, BIG_LINE = (lambda p: Path("/dev/zero")), (lambda p: sparse(p, 200 << 20))
LIT_CKPT, KERAS, LOAD = "LitSeq2Seq.load_from_checkpoint", "keras_seq2seq.load_model", "load_pretrained"
ONNX, READ = "OnnxTranslator", "translate --file (read_sources)"
DEEP = '"deep": ' + "[" * 100_000 + "]" * 100_000 + ', "extra": {'
# fmt: off
#: name -> (what the case is, function building its input in a directory and returning the measured call)
CASES: dict[str, tuple[str, Build]] = {
    "vocab_duplicate_40k": ("Vocab(tokens): one duplicate among 40,000", partial(vocab_duplicate, size=40_000)),
    "vocab_duplicate_200k": ("Vocab(tokens): one duplicate among 200,000", partial(vocab_duplicate, size=200_000)),
    **{
        name: case
        for size in (6000, 20000)
        for name, case in (
            (f"checkpoint_hidden_{size}", (f"{LIT_CKPT}: config asks hidden_size {size}",
                                           partial(lit_checkpoint, edit=hidden_size(size)))),
            (f"keras_hidden_{size}", (f"{KERAS}(.keras): config asks hidden_size {size}",
                                      partial(keras_load, edit=keras_hidden(size)))),
        )
    },
    **{
        f"safetensors_extra_{gb.replace('.', '_')}gb": (
            f"{LOAD}: model.safetensors with an unexpected {gb} GB tensor (sparse)",
            partial(pretrained, edit=partial(extra_tensor, count=count)),
        )
        for gb, count in (("1.2", 300_000_000), ("2.4", 600_000_000))
    },
    "keras_zip_bomb_3gb": (f"{KERAS}: config.json inflates to 3 GB",
                           partial(keras_load, edit=zip_bomb, compression=zipfile.ZIP_DEFLATED, compresslevel=1)),
    "translate_max_length_1e9": ("LitSeq2Seq.translate(max_length=10**9)", partial(translate, max_length=10**9)),
    "translate_beam_1e6": ("LitSeq2Seq.translate(strategy='beam', beam_width=10**6)",
                           partial(translate, strategy="beam", beam_width=10**6)),
    "translate_attention_100k_chars": ("LitSeq2Seq.translate: a 100,000-character source, return_attention=True",
        partial(translate, sources=(" ".join(["a"] * 50_000) + "b",), return_attention=True)),
    **{
        name: case
        for suffix, what, make in (("dev_zero", "/dev/zero", DEV_ZERO), ("fifo", "a FIFO", fifo),
                                   ("200mb_line", "one 200 MB line (sparse)", BIG_LINE))
        for name, case in ((f"corpus_{suffix}", (f"load_corpus: {what}", partial(corpus, make=make))),
                           (f"file_{suffix}", (f"{READ}: {what}", partial(sources_file, make=make))))
    },
    "tsv_cr_only": ("load_corpus: a TSV with CR-only line endings (3 pairs; expected read, not refused)", tsv_cr_only),
    "nan_directory": (f"{LOAD}: a NaN weight in model.safetensors", partial(pretrained, edit=nan_weight)),
    "nan_checkpoint": (f"{LIT_CKPT}: an inf weight", partial(lit_checkpoint, edit=inf_weight)),
    "nan_keras": (f"{KERAS}: a NaN weight in the .keras file", partial(keras_load, nan=True)),
    "nan_onnx": (f"{ONNX}: a NaN in an initializer of decoder.onnx",
                 partial(onnx_translate, edit=partial(edit_graph, name="decoder.onnx", edit=nan_initializer))),
    "onnx_logits_wider": (f"{ONNX}: decoder.onnx of a model with one more target token",
                          partial(onnx_translate, edit=partial(other_decoder, tokens=[*TOKENS, "i"]))),
    "onnx_logits_narrower": (f"{ONNX}: decoder.onnx of a model with one target token fewer",
                             partial(onnx_translate, edit=partial(other_decoder, tokens=TOKENS[:-1]))),
    "onnx_bad_export_json": (f"{ONNX}: export.json with 'encoder': 7", partial(onnx_translate, edit=bad_export_json)),
    "onnx_bad_graph_metadata": (f"{ONNX}: graph metadata seq2seq_fit.config is '{{'", partial(
        onnx_translate, edit=partial(edit_graph, name="encoder.onnx", edit=bad_config_metadata))),
    "onnx_swapped_graphs": (f"{ONNX}: encoder.onnx and decoder.onnx swapped",
                            partial(onnx_translate, edit=swap_graphs)),
    "json_deep_nesting": (f"{LOAD}: config.json nested 100,000 deep",
                          partial(pretrained, edit=partial(config_text, old='"extra": {', new=DEEP))),
    "json_5001_digits": (f"{LOAD}: config.json hidden_size of 5,001 digits", partial(
        pretrained, edit=partial(config_text, old='"hidden_size": 8', new='"hidden_size": ' + "9" * 5001))),
    "checkpoint_truncated": (f"{LIT_CKPT}: the file cut in half", partial(lit_checkpoint, cut=True)),
    "cli_truncated_checkpoint": ("lit-seq2seq translate --model a checkpoint cut in half",
                                 partial(lit_checkpoint, cut=True, cli=True)),
    "extra_seed_abc": ("LitSeq2Seq.from_pretrained: config.json extra.seed is 'abc'", partial(pretrained, lit=True,
        edit=lambda root: edit_json(root / "config.json", lambda d: d["extra"].update(seed="abc")))),
    "vocab_symlink_outside": (f"{LOAD}: vocab.json a symlink to a JSON file outside (with a secret)",
                              partial(pretrained, edit=vocab_symlink)),
}
# fmt: on


# -- running -----------------------------------------------------------------------------------------


def memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_case(name: str) -> dict[str, Any]:
    """In the child: build the case's input, then time its call under the alarm."""
    import warnings

    warnings.simplefilter("ignore")
    from seq2seq_fit.errors import InputError

    with tempfile.TemporaryDirectory() as temp:
        call = CASES[name][1](Path(temp))
        Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from here
        before = memory_kb("VmRSS")
        signal.alarm(TIME_LIMIT)
        start = time.perf_counter()
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                result = call()
            outcome, message = "read", str(result)
        except SystemExit as exit:  # a command line: status 2 and one line on stderr is its refusal
            outcome = ("refused: " if exit.code == 2 else "RAW: ") + f"exit status {exit.code}"
            message = stderr.getvalue().strip()
        except Exception as err:  # recorded: any exception class is a result
            refused = isinstance(err, InputError) or (name.startswith("vocab_duplicate") and type(err) is ValueError)
            outcome = ("refused: " if refused else "RAW: ") + f"{type(err).__module__}.{type(err).__name__}"
            message = str(err)
        seconds = time.perf_counter() - start
        signal.alarm(0)
        extra_mb = (memory_kb("VmHWM") - before) / 1024
    return {"case": name, "outcome": outcome, "seconds": round(seconds, 3), "extra_mb": round(extra_mb, 1),
            "message": message[:200], "message_chars": len(message), "one_line": "\n" not in message,
            "leaks_secret": SECRET in message}  # fmt: skip


def in_child(name: str, folder: Path) -> dict[str, Any]:
    """One case in a fresh child process (``benchmarks.common.run_jobs``: its result file in ``folder``)."""
    env = {"KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    job = {"name": name, "settings": {"case": name}}
    (row,) = run_jobs([sys.executable, "-m", "benchmarks.refusals", "--child"], [job], folder, env=env, fresh=True,
                      timeout=600, log=subprocess.DEVNULL)  # fmt: skip
    return row or {"case": name, "outcome": f"timeout or died (over {TIME_LIMIT} s or {MEMORY_CAP >> 30} GB)"}


def child_case(job: dict[str, Any]) -> dict[str, Any]:
    """The child's side: capped at :data:`MEMORY_CAP` of address space, then :func:`run_case`."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    return run_case(job["settings"]["case"])


def good(row: dict[str, Any]) -> bool:
    expected = "read" if row["case"] == "tsv_cr_only" else "refused"
    within = isinstance(row.get("seconds"), float) and row["seconds"] < 2 and (row.get("extra_mb") or 0) < 300
    short = row.get("message_chars", 0) <= 500 and row.get("one_line", True)
    return row["outcome"].startswith(expected) and within and short and not row.get("leaks_secret")


def table(rows: list[dict[str, Any]]) -> Iterator[str]:
    yield "| case | what | outcome | time s | extra MB | goal | message (its length in characters) |"
    yield "|---|---|---|---:|---:|---|---|"
    for row in rows:
        message = str(row.get("message", "")).replace("|", "\\|").replace("\n", " ")[:120]
        cells = [row["case"], CASES[row["case"]][0], row["outcome"], row.get("seconds"), row.get("extra_mb")]
        cells += ["yes" if good(row) else "NO", f"{message} ({row.get('message_chars')})"]
        yield "| " + " | ".join(map(str, cells)) + " |"


def main() -> None:
    if sys.argv[1:] == ["--child"]:
        serve_jobs(child_case)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append", help="run only these cases")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.case or list(CASES):
            rows.append(in_child(name, Path(folder)))
            print(json.dumps(rows[-1]), flush=True)
    if args.case:
        return
    load = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    conditions = (f"{time.strftime('%Y-%m-%d %H:%M')}, commit {commit.stdout.strip()}, {os.cpu_count()} CPUs, "
                  f"load average {load[0]:.1f} at the end; each case in a fresh process capped at "
                  f"{MEMORY_CAP >> 30} GB of address space, killed after {TIME_LIMIT} s")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "refusals.json").write_text(json.dumps({"conditions": conditions, "rows": rows}, indent=1) + "\n")
    goal = (
        "refused by a package error in < 2 s with < 300 MB extra, in one line of at most 500 characters quoting "
        "nothing from outside the directory; the CR-only TSV read"
    )
    head = ["# Refusals: time and extra memory of each hostile input", "", "    python -m benchmarks.refusals", ""]
    lines = [*head, conditions + ".", "", f"Goal met ({goal}): {sum(map(good, rows))} of {len(rows)}.", ""]
    lines += table(rows)
    lines += ["", "A direct `Vocab(tokens)` call raises `ValueError`; the loaders report the same duplicate as "
              "`ModelFormatError` naming vocab.json."]  # fmt: skip
    (RESULTS / "refusals.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
