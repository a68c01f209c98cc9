"""All-or-nothing directory writes: ``save_pretrained`` and ``export_onnx`` killed at every step, or out of disk.

A forked child writes model B over model A and is killed with ``SIGKILL`` right after the k-th step of
:func:`seq2seq_fit.atomic_directory.write_directory` (for every k), or after a random delay while it
rewrites the directory in a loop (``slow``); the parent then loads the directory. Each trial must give
exactly A, exactly B, or the "incomplete" refusal: never a mix. The counts are printed (``-s``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load as load_safetensors

from seq2seq_fit import atomic_directory
from seq2seq_fit.atomic_directory import FILES_KEY, MARKER
from seq2seq_fit.config import Seq2SeqConfig
from seq2seq_fit.errors import ModelFormatError
from seq2seq_fit.model_format import load_pretrained, save_pretrained
from seq2seq_fit.teacher_forcing import TeacherForcing
from seq2seq_fit.weight_layout import canonical_shapes

CONFIG = Seq2SeqConfig(hidden_size=4, embedding_dim=2)
USER_FILE = "notes.txt"  # not the model's: every write must leave it alone


def model(seed: int, tokens: list[str], config: Seq2SeqConfig = CONFIG) -> dict[str, Any]:
    """save_pretrained's keywords for a small model; A and B have the same shapes, so a mix of them would load."""
    rng = np.random.default_rng(seed)
    shapes = canonical_shapes(config, len(tokens), len(tokens))
    weights = {key: rng.normal(size=shape).astype(np.float32) for key, shape in shapes.items()}
    return {
        "config": config,
        "teacher_forcing": TeacherForcing(),
        "src_vocab": tokens,
        "tgt_vocab": tokens,
        "weights": weights,
        "extra": {"seed": seed},
    }


SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
MODEL_A = model(1, [*SPECIALS, "a", "b"])
MODEL_B = model(2, [*SPECIALS, "x", "y"])


def save(directory: Path, arguments: dict[str, Any]) -> None:
    save_pretrained(directory, **arguments)


def export(directory: Path, arguments: dict[str, Any]) -> None:
    from seq2seq_fit.onnx_export import export_onnx

    export_onnx(directory, **arguments)


def load_model(directory: Path) -> None:
    load_pretrained(directory)


def load_export(directory: Path) -> None:
    from seq2seq_fit.serving import OnnxTranslator

    OnnxTranslator(directory, threads=1)


WRITERS = {"save_pretrained": (save, load_model), "export_onnx": (export, load_export)}


def fingerprint(directory: Path) -> dict[str, Any]:
    """What identifies the model in ``directory``: each file's bytes (config.json without its file list)."""
    out: dict[str, Any] = {}
    for path in sorted(directory.iterdir()):
        if path.name in (USER_FILE, MARKER) or path.name.startswith("."):
            continue
        if path.name == "config.json":
            header = json.loads(path.read_text())
            header.pop(FILES_KEY, None)
            out[path.name] = header
        elif path.suffix == ".safetensors":  # safetensors writes its metadata in no fixed order
            out[path.name] = sorted(
                (key, value.tobytes()) for key, value in load_safetensors(path.read_bytes()).items()
            )
        else:
            out[path.name] = path.read_bytes()
    return out


def legacy(directory: Path) -> None:
    """Make ``directory`` look written before config.json listed the files."""
    header = json.loads((directory / "config.json").read_text())
    del header[FILES_KEY]
    (directory / "config.json").write_text(json.dumps(header, indent=2) + "\n")


def in_child(body: Callable[[], None], *, kill_after_step: int = 0) -> int:
    """Run ``body`` in a forked child; ``kill_after_step`` k > 0 kills it with SIGKILL right after the k-th step
    of ``write_directory``. Returns the child's wait status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            steps = [0]

            def hook(what: str) -> None:
                steps[0] += 1
                if steps[0] == kill_after_step:
                    os.kill(os.getpid(), signal.SIGKILL)

            atomic_directory.step_hook = hook if kill_after_step else None
            body()
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


class Tally:
    """Outcomes of trials: ``old``, ``new``, ``refused`` (the incomplete error) or ``mixed``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.counts: Counter[str] = Counter()
        self.details: list[str] = []

    def judge(self, directory: Path, load: Callable[[Path], None], old: dict, new: dict, note: str) -> str:
        try:
            load(directory)
        except ModelFormatError as err:
            assert "incomplete" in str(err), f"{note}: refused without saying incomplete: {err}"
            outcome = "refused"
        else:
            now = fingerprint(directory)
            outcome = "old" if now == old else "new" if now == new else "mixed"
        if outcome == "mixed":
            self.details.append(note)
        self.counts[outcome] += 1
        assert (directory / USER_FILE).read_text() == "mine", f"{note}: the user's file was touched"
        return outcome

    def report(self) -> str:
        c = self.counts
        return (
            f"{self.name}: trials {sum(c.values())}, old {c['old']}, new {c['new']}, refused {c['refused']}, "
            f"mixed {c['mixed']}"
        )


@pytest.fixture
def work_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh directory, in /dev/shm when there is one: the kill tests are about processes, not the disk, and
    fsync on a busy disk would make them slow."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="seq2seq-fit-kill-", dir="/dev/shm"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict, Path]]:
    """Per writer: the fingerprints of A and B as it writes them, and a directory holding A."""
    out = {}
    for name, (write, _) in WRITERS.items():
        base = tmp_path_factory.mktemp(name)
        write(base / "a", MODEL_A)
        write(base / "b", MODEL_B)
        out[name] = (fingerprint(base / "a"), fingerprint(base / "b"), base / "a")
    return out


def fresh_a(a_dir: Path, directory: Path, *, old_format: bool) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(a_dir, directory)
    (directory / USER_FILE).write_text("mine")
    if old_format:
        legacy(directory)


@pytest.mark.parametrize(
    "sweep", ["alternate", pytest.param("both", marks=pytest.mark.slow)], ids=["format-by-step", "both-formats"]
)
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_write_killed_after_any_step_leaves_the_old_model_the_new_one_or_a_refusal(
    writer, sweep, references, work_dir
):
    """A is in the format of this version (its config.json lists the files) or an older one (no list): each
    kill point k with one of them, alternating (``both``, ``slow``: with each)."""
    write, load = WRITERS[writer]
    old, new, a_dir = references[writer]
    tally = Tally(f"{writer} (kill after each step, {sweep})")
    directory = work_dir / "model"
    for first_format in (False, True) if sweep == "both" else (False,):
        old_print = old
        step = 0
        while True:
            step += 1
            old_format = first_format if sweep == "both" else step % 2 == 1
            fresh_a(a_dir, directory, old_format=old_format)
            status = in_child(lambda: write(directory, MODEL_B), kill_after_step=step)
            if not os.WIFSIGNALED(status):  # k is past the last step: the write completed
                assert os.waitstatus_to_exitcode(status) == 0
                assert tally.judge(directory, load, old_print, new, "completed") == "new"
                break
            assert os.WTERMSIG(status) == signal.SIGKILL
            tally.judge(directory, load, old_print, new, f"killed after step {step} (old_format={old_format})")
            # the next write completes and leaves no temporary file or marker behind
            write(directory, MODEL_B)
            assert sorted(p.name for p in directory.iterdir()) == sorted([*new, USER_FILE]), f"step {step}"
            assert fingerprint(directory) == new
        assert step > 10, "the hook saw too few steps"
    print(tally.report())
    assert tally.counts["mixed"] == 0, tally.details
    assert tally.counts["old"] and tally.counts["new"] and tally.counts["refused"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_files_changed_after_a_write_are_refused_as_a_mix(writer, references, tmp_path):
    """What the file list in config.json catches that the marker cannot: another program's write cut short."""
    write, load = WRITERS[writer]
    _, _, a_dir = references[writer]
    directory = tmp_path / "model"
    fresh_a(a_dir, directory, old_format=False)
    b_dir = tmp_path / "b"
    write(b_dir, MODEL_B)
    shutil.copy(b_dir / "vocab.json", directory / "vocab.json")  # the same size: only the sha256 differs
    with pytest.raises(ModelFormatError, match=r"vocab.json: its sha256 is not the one config.json lists; the direc"):
        load(directory)
    vocab = json.loads((directory / "vocab.json").read_text())
    (directory / "vocab.json").write_text(json.dumps(vocab, indent=1))  # the same vocabularies, spelled longer
    with pytest.raises(ModelFormatError, match=r"vocab.json: \d+ bytes, but config.json lists \d+; .* incomplete"):
        load(directory)
    (directory / "vocab.json").unlink()
    with pytest.raises(ModelFormatError, match=r"vocab.json: missing"):
        load(directory)
    # a directory without the list (written by an older version) loads as it is
    fresh_a(a_dir, directory, old_format=True)
    load(directory)


def test_an_interrupted_write_is_refused_with_what_to_do(references, tmp_path):
    _, _, a_dir = references["save_pretrained"]
    directory = tmp_path / "model"
    fresh_a(a_dir, directory, old_format=False)
    (directory / MARKER).write_text("")
    with pytest.raises(ModelFormatError) as err:
        load_pretrained(directory)
    assert str(err.value) == (
        f"{directory}: incomplete: a write into it was interrupted ({MARKER} is there), so its files may be of "
        f"two models; write the model there again with save_pretrained (that also removes {MARKER})"
    )
    fresh_a(references["export_onnx"][2], directory, old_format=False)
    (directory / MARKER).write_text("")
    with pytest.raises(ModelFormatError, match=r"incomplete: .* with export_onnx \(or `seq2seq-fit export`\)"):
        load_export(directory)


def test_leftovers_of_killed_writes_are_removed_and_other_files_kept(references, tmp_path):
    _, new, a_dir = references["save_pretrained"]
    directory = tmp_path / "model"
    fresh_a(a_dir, directory, old_format=False)
    leftovers = [
        ".model.safetensors.tmp-0123456789ab",
        ".source.model.tmp-abcdefabcdef",
        ".config.json.tmp-000000000000",
    ]
    kept = [".hidden", ".mine.tmp-0123456789ab", "model.safetensors.bak"]
    for name in leftovers + kept:
        (directory / name).write_text("x")
    save(directory, MODEL_B)
    assert sorted(p.name for p in directory.iterdir()) == sorted([*new, USER_FILE, *kept])


# ----------------------------------------------------------------------------------------------- full disk

BIG = model(3, [*SPECIALS, *"cdefghijklmnopqrstuvwxyz"], Seq2SeqConfig(hidden_size=16, embedding_dim=8))


@contextlib.contextmanager
def small_tmpfs(size_kib: int) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` KiB, mounted for the test (needs root and a mount namespace that allows it)."""
    if os.geteuid() != 0:
        pytest.skip("the full-disk test mounts a small tmpfs, which needs root (running as a normal user)")
    mount_point = Path(tempfile.mkdtemp(prefix="seq2seq-fit-full-disk-"))
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", os.fspath(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"the full-disk test cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", os.fspath(mount_point)], check=False)
        mount_point.rmdir()


def fill(mount_point: Path, leave_bytes: int) -> None:
    """Fill the tmpfs up to ``leave_bytes`` free (tmpfs counts whole pages)."""
    free = shutil.disk_usage(mount_point).free
    if free > leave_bytes:
        with open(mount_point / "filler", "ab") as f:
            f.write(b"\0" * (free - leave_bytes))


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_full_disk_at_any_file_leaves_the_old_model_and_says_which_file(writer, references, tmp_path):
    write, load = WRITERS[writer]
    old, _, a_dir = references[writer]
    b_dir = tmp_path / "b"
    write(b_dir, BIG)
    new = fingerprint(b_dir)
    pages = sum(-(-p.stat().st_size // 4096) for p in b_dir.iterdir()) + 1  # tmpfs counts whole pages; the marker
    tally = Tally(f"{writer} (full disk)")
    failures: Counter[str] = Counter()
    with small_tmpfs(1024) as mount_point:
        directory = mount_point / "model"
        for free_pages in range(pages + 2):
            for path in mount_point.iterdir():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            fresh_a(a_dir, directory, old_format=False)
            fill(mount_point, free_pages * 4096)
            try:
                write(directory, BIG)
            except OSError as err:
                message = str(err)
                assert "\n" not in message and len(message) < 400, message
                assert f"{directory}/" in message and "No space left on device" in message, message
                assert "are unchanged" in message or "left incomplete" in message, message
                failures[message.split(":")[0].split("/")[-1].split("]")[-1]] += 1
            outcome = tally.judge(directory, load, old, new, f"{free_pages} pages free")
            (mount_point / "filler").unlink(missing_ok=True)
            if outcome == "old":  # nothing of the failed write stays behind
                assert sorted(p.name for p in directory.iterdir()) == sorted([*old, USER_FILE])
            write(directory, BIG)  # with space again, the next write completes
            assert fingerprint(directory) == new
    print(tally.report(), "- failed at:", dict(failures))
    assert tally.counts["mixed"] == 0, tally.details
    assert tally.counts["old"] >= 2 and tally.counts["new"] >= 1
    assert len(failures) >= 2, failures  # the disk filled up at different files


# ---------------------------------------------------------------------------------------- random kill sweep


@pytest.mark.slow
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_random_kills_of_a_rewriting_loop_never_leave_a_mix(writer, references, work_dir):
    """A child rewrites the directory with A and B in turn; SIGKILL after a random delay, 150 times."""
    write, load = WRITERS[writer]
    old, new, a_dir = references[writer]
    tally = Tally(f"{writer} (random kills)")
    directory = work_dir / "model"
    rng = random.Random(0)
    for trial in range(150):
        fresh_a(a_dir, directory, old_format=trial % 2 == 1)
        pid = os.fork()
        if pid == 0:
            try:
                while True:
                    write(directory, MODEL_B)
                    write(directory, MODEL_A)
            finally:
                os._exit(3)
        time.sleep(rng.uniform(0.0, 0.25 if writer == "export_onnx" else 0.05))
        os.kill(pid, signal.SIGKILL)
        status = os.waitpid(pid, 0)[1]
        assert os.WIFSIGNALED(status), "the writing loop stopped on its own"
        tally.judge(directory, load, old, new, f"trial {trial}")
    print(tally.report())
    assert tally.counts["mixed"] == 0, tally.details
    assert tally.counts["old"] and tally.counts["new"]


# ------------------------------------------------------------------- whole-directory swap (Keras SavedModel)


def saved_model_like(directory: Path, tag: str) -> None:
    """What the SavedModel writer does, with a step after each file (a kill point)."""
    for name in ("saved_model.pb", "variables/variables.data", "variables/variables.index", "fingerprint.pb"):
        (directory / name).parent.mkdir(exist_ok=True)
        (directory / name).write_text(f"{tag} {name}")
        atomic_directory._step(f"wrote {name}")


def saved_state(directory: Path) -> str:
    """``"A"``, ``"B"``, ``"missing"`` or ``"mixed"``: what a reader of ``directory`` finds."""
    if not directory.exists():
        return "missing"
    tags = {p.read_text().split()[0] for p in directory.rglob("*") if p.is_file() and p.name != USER_FILE}
    assert (directory / USER_FILE).read_text() == "mine"
    return tags.pop() if len(tags) == 1 and len(list(directory.rglob("*.pb"))) == 2 else "mixed"


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "fallback"])
def test_a_directory_swap_killed_after_any_step_leaves_the_old_directory_or_the_new_one(exchange, work_dir):
    target = work_dir / "saved"
    tally: Counter[str] = Counter()
    step = 0
    while True:
        step += 1
        shutil.rmtree(target, ignore_errors=True)
        atomic_directory.replace_directory(target, lambda path: saved_model_like(path, "A"))
        (target / USER_FILE).write_text("mine")

        def swap() -> None:
            if not exchange:
                atomic_directory._exchange = lambda a, b: False  # type: ignore[assignment]
            atomic_directory.replace_directory(target, lambda path: saved_model_like(path, "B"))

        status = in_child(swap, kill_after_step=step)
        state = saved_state(target)
        tally[state] += 1
        assert state in (("A", "B") if exchange else ("A", "B", "missing")), f"step {step}: {state}"
        if not os.WIFSIGNALED(status):
            assert state == "B"
            break
        atomic_directory.replace_directory(target, lambda path: saved_model_like(path, "B"))  # removes leftovers
        assert [p.name for p in work_dir.iterdir()] == ["saved"] and saved_state(target) == "B"
    print(f"replace_directory ({'renameat2' if exchange else 'fallback'}): trials {step}, {dict(tally)}")
    assert tally["A"] >= 4 and tally["B"] >= 1 and tally["mixed"] == 0
