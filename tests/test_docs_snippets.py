"""Every Python code block of README.md and docs/*.md runs, so a broken snippet fails CI.

One child process runs all blocks (``tests/helpers/docs_snippets.py`` says how: the blocks of a file
share a namespace, training is capped at a few steps, ``docs-test`` markers in the Markdown add hidden
setup code or skip a block with a reason); each block is then one test here. A skipped block shows in
the summary with its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, child_env
from tests.helpers.docs_snippets import DOC_FILES, Block, MarkerError, all_blocks, markdown_blocks

BLOCKS = all_blocks()
#: Files whose blocks together take most of a minute more (Keras training on CMUdict): ``slow``, run by
#: their own child process; the other files' blocks run in one child process in the default suite.
SLOW_FILES = ("docs/keras.md",)
#: Seconds one child process may take for its blocks.
TIME_LIMIT = 600


def _run_blocks(files: list[str], report: Path) -> dict[str, dict[str, Any]]:
    run = subprocess.run(
        [sys.executable, "-m", "tests.helpers.docs_snippets", str(report), *files],
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT,
        cwd=REPO,
        env=child_env(),
    )
    found = json.loads(report.read_text()) if report.exists() else []
    by_block = {r["where"]: r for r in found}
    if run.returncode != 0:  # the runner itself died: every block it did not reach fails with its output
        by_block["__runner__"] = {"status": "error", "error": (run.stdout + run.stderr)[-4000:]}
    return by_block


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, dict[str, Any]]]:
    """``results(file)``: the report of the child process that runs ``file``'s group, run on first use."""
    groups: dict[bool, dict[str, dict[str, Any]]] = {}

    def of(file: str) -> dict[str, dict[str, Any]]:
        slow = file in SLOW_FILES
        if slow not in groups:
            files = [f for f in DOC_FILES if (f in SLOW_FILES) == slow]
            groups[slow] = _run_blocks(files, tmp_path_factory.mktemp("docs") / "report.json")
        return groups[slow]

    return of


def test_the_docs_have_python_blocks() -> None:
    files = {b.file for b in BLOCKS}
    assert "README.md" in files and "docs/lightning.md" in files and "docs/keras.md" in files
    assert set(files) <= set(DOC_FILES) and set(SLOW_FILES) <= files


@pytest.mark.parametrize(
    "block", [pytest.param(b, id=b.where, marks=[pytest.mark.slow] if b.file in SLOW_FILES else []) for b in BLOCKS]
)
def test_docs_block_runs(block: Block, results: Callable[[str], dict[str, dict[str, Any]]]) -> None:
    if block.skip:
        pytest.skip(f"{block.where}: marked docs-test: skip ({block.skip})")
    found = results(block.file)
    result = found.get(block.where)
    if result is None:
        runner = found.get("__runner__", {}).get("error", "no report")
        pytest.fail(f"{block.where} did not run; the runner's output:\n{runner}")
    earlier = [w for w, r in found.items() if w.split(":")[0] == block.file and r["status"] == "error"]
    earlier = [w for w in earlier if int(w.split(":")[1]) < block.line]
    note = f"\n(earlier blocks of {block.file} that failed: {', '.join(earlier)})" if earlier else ""
    assert result["status"] == "ok", f"{block.where} raised:\n{result['error']}{note}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- docs-test: skip -->\n```python\npass\n```\n", "a.md:1: write a skip as"),
        ("<!-- docs-test: skip (gpu) -->\n```bash\nls\n```\n", "a.md:1: a docs-test marker must come directly"),
        ("<!-- docs-test: skip (gpu) -->\nSome prose.\n```python\npass\n```\n", "a.md:1: a docs-test marker must"),
        ("<!-- docs-test: setup\nx = 1\n", "a.md:1: write a setup as"),
        ("<!-- docs-test: run-later -->\n```python\npass\n```\n", "a.md:1: unknown docs-test marker 'run-later'"),
    ],
)
def test_a_misplaced_or_malformed_marker_is_an_error(text: str, message: str) -> None:
    with pytest.raises(MarkerError, match=message):
        markdown_blocks("a.md", text)


def test_setup_and_skip_markers_attach_to_the_next_python_block() -> None:
    text = "<!-- docs-test: setup\n    x = 1\n-->\n\n```python\nprint(x)\n```\n\n```py\npass\n```\n"
    first, second = markdown_blocks("a.md", text)
    assert (first.line, first.setup, first.code, first.skip) == (5, "x = 1\n", "print(x)\n", "")
    assert (second.line, second.setup) == (9, "")


def test_every_python_fence_of_the_docs_is_collected() -> None:
    fences = [
        f"{f}:{n}"
        for f in DOC_FILES
        for n, line in enumerate(Path(REPO, f).read_text(encoding="utf-8").splitlines(), start=1)
        if line.strip().lower() in {"```python", "```py", "```python3"}
    ]
    assert fences == [b.where for b in BLOCKS]
