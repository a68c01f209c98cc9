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
#: Largest model a loader builds, in parameters (the sum of the canonical tensor sizes its config and
#: vocabulary sizes imply; 4 bytes each): a config asking for more is refused before anything is allocated.
MAX_PARAMETERS = 500_000_000
#: Largest JSON header of a ``model.safetensors`` file, in bytes (the safetensors library's own limit).
MAX_SAFETENSORS_HEADER_BYTES = 100 * 1024 * 1024
#: Largest ratio of a ``.keras`` zip member's inflated size to its compressed size (members over 1 MiB):
#: a higher one is a zip bomb, not a model.
MAX_COMPRESSION_RATIO = 200
#: Most members a ``.keras`` zip may hold.
MAX_ZIP_MEMBERS = 1000

# translate (every framework and OnnxTranslator): what one call may ask for. Its memory grows with
# batch_size * beam_width * output length (times the source length with return_attention=True).
#: Most output tokens ``translate(max_length=...)`` may ask for: twice the default budget of the longest source.
MAX_LENGTH = 16384
#: Widest beam ``translate(beam_width=...)`` may ask for; past about 10 a wider beam rarely helps.
MAX_BEAM_WIDTH = 128
#: Most sources ``translate(batch_size=...)`` may decode together.
MAX_BATCH_SIZE = 4096
#: Most tokens of one ``translate`` source (after its tokenizer); a sentence or a paragraph is far below it.
MAX_SOURCE_TOKENS = 4096
#: Longest line a corpus (TSV) or ``--file`` reader accepts, in bytes, its line ending excluded.
MAX_LINE_BYTES = 1024 * 1024

__all__ = [
    "MAX_BATCH_SIZE",
    "MAX_BEAM_WIDTH",
    "MAX_COMPRESSION_RATIO",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_LENGTH",
    "MAX_LINE_BYTES",
    "MAX_PARAMETERS",
    "MAX_SAFETENSORS_HEADER_BYTES",
    "MAX_SOURCE_TOKENS",
    "MAX_ZIP_MEMBERS",
]
