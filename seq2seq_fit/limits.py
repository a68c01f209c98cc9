"""The documented limits on what a handed-over file or a call may ask for (framework-free).

Every loader and the translate driver check what a header, a config or an argument asks for against
these numbers before allocating, so that no input costs more than a bounded amount of time and memory.
Each limit is a module constant: raise one (``seq2seq_fit.limits.MAX_BEAM_WIDTH = 256``) for a file or a
call you trust; the errors name the constant to raise.
"""

from __future__ import annotations

#: Largest JSON file a loader reads (config.json, vocab.json, tokenizer files, export.json), in bytes.
MAX_JSON_BYTES = 64 * 1024 * 1024
#: Deepest nesting of JSON arrays and objects a loader accepts.
MAX_JSON_DEPTH = 64

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH"]
