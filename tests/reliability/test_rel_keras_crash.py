"""Crash and recover on the Keras side, TensorFlow backend: a ``model.fit`` killed
with SIGKILL mid-run and restarted with the same ``BackupAndRestore`` finishes the run, repeats at
most one backup interval of steps, and ends with the weights of a run that was never killed.
Subprocesses, so marked slow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EPOCHS, BATCHES, INTERVAL = 4, 4, 2  # 16 steps, a backup every 2

WORKER = textwrap.dedent(
    f"""
    import hashlib, sys, time
    import keras
    import numpy as np
    from datamodules.keras import KerasData
    from keras_seq2seq import Seq2SeqModel
    from seq2seq_fit import Seq2SeqConfig, TeacherForcing

    out, delay = sys.argv[1], float(sys.argv[2])

    class Progress(keras.callbacks.Callback):
        # After BackupAndRestore in the callback list: a logged step is a backed-up step or later.
        def on_train_batch_end(self, batch, logs=None):
            with open(out + "/steps", "a") as f:
                f.write(f"{{int(self.model.optimizer.iterations)}}\\n")
            time.sleep(delay)

    keras.utils.set_random_seed(0)
    data = KerasData("reverse", batch_size=4, corpus_options={{"n_train": {4 * BATCHES}, "n_val": 4, "n_test": 4}})
    model = Seq2SeqModel(
        data.src_vocab, data.tgt_vocab,
        Seq2SeqConfig(hidden_size=16, embedding_dim=8, dropout=0.1),
        TeacherForcing(schedule="linear", start=0.9, end=0.1, decay_steps=16),
        seed=3,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    backup = keras.callbacks.BackupAndRestore(out + "/backup", save_freq={INTERVAL}, double_checkpoint=True)
    model.fit(data.train(), epochs={EPOCHS}, verbose=0, callbacks=[backup, Progress()])
    digest = hashlib.sha256(b"".join(np.asarray(keras.ops.convert_to_numpy(v)).tobytes() for v in model.weights))
    print("ITERATIONS", int(model.optimizer.iterations), "WEIGHTS", digest.hexdigest())
    """
)


def start(out: Path, delay: float) -> subprocess.Popen[str]:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-c", WORKER, str(out), str(delay)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def steps(out: Path) -> list[int]:
    path = out / "steps"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    log, _ = process.communicate(timeout=300)
    assert process.returncode == 0, log[-3000:]
    last = [line for line in log.splitlines() if line.startswith("ITERATIONS")][-1].split()
    return int(last[1]), last[3]


def test_a_killed_fit_resumes_from_its_backup_and_ends_like_an_uninterrupted_one(tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    straight.mkdir()
    iterations, expected = finish(start(straight, 0.0))
    assert iterations == EPOCHS * BATCHES

    out = tmp_path / "killed"
    out.mkdir()
    process = start(out, 0.3)
    deadline = time.monotonic() + 240
    while len(steps(out)) < 7 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # mid-epoch 2, between or during backups
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = steps(out)[-1]

    iterations, digest = finish(start(out, 0.0))
    logged = steps(out)
    resumed_from = logged[logged.index(killed_at) + 1] - 1  # the step the backup held
    assert 0 <= killed_at - resumed_from <= INTERVAL, logged  # at most one interval trained again
    assert logged[logged.index(killed_at) + 1 :] == list(range(resumed_from + 1, EPOCHS * BATCHES + 1))
    assert iterations == EPOCHS * BATCHES
    assert digest == expected  # bitwise the weights of the run that was never killed
    assert not (out / "backup").exists()  # deleted at the end of the finished run
