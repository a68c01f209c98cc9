"""One fresh interpreter that runs every import probe of ``tests/test_import_rules.py``.

``python -m tests.helpers.imports`` reads the probes as JSON on stdin and writes one JSON report on
stdout: ``{name: {"imported": [the probe's frameworks found in sys.modules], "error": traceback or
null}}``. The interpreter imports nothing but the standard library, then forks once per probe, so each
probe starts from the same clean state without starting a new interpreter.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any


def run_probe(probe: dict[str, Any]) -> dict[str, Any]:
    """Run ``probe["code"]`` with ``probe["env"]`` set; which of ``probe["frameworks"]`` it imported."""
    os.environ.update(probe.get("env", {}))
    try:
        exec(compile(probe["code"], probe["name"], "exec"), {"__name__": "__probe__"})
    except BaseException:  # reported, not raised: the test shows it
        return {"imported": None, "error": traceback.format_exc()[-3000:]}
    return {"imported": sorted(m for m in probe["frameworks"] if m in sys.modules), "error": None}


def run_forked(probe: dict[str, Any]) -> dict[str, Any]:
    """:func:`run_probe` in a forked child, so the next probe starts from this clean interpreter."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, report through the pipe, exit without the parent's cleanup
        os.close(read)
        with os.fdopen(write, "w") as out:
            json.dump(run_probe(probe), out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as source:
        text = source.read()
    _, status = os.waitpid(pid, 0)
    if not text:
        return {"imported": None, "error": f"the probe's process died (wait status {status})"}
    return json.loads(text)  # type: ignore[no-any-return]


def main() -> None:
    probes = json.load(sys.stdin)
    json.dump({probe["name"]: run_forked(probe) for probe in probes}, sys.stdout)


if __name__ == "__main__":
    main()
