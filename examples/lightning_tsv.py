"""Train on your own tab-separated file (``source<TAB>target`` per line, extra columns ignored).

python examples/lightning_tsv.py my_pairs.tsv        # without an argument: a small generated file
"""

import sys
import tempfile
from pathlib import Path

import lightning.pytorch as pl

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq
from seq2seq_fit import Seq2SeqConfig

if len(sys.argv) > 1:
    path = Path(sys.argv[1])
else:  # a stand-in for a Tatoeba/Anki export: number words to digits
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    path = Path(tempfile.mkdtemp()) / "numbers.tsv"
    path.write_text("".join(f"{words[i // 10]} {words[i % 10]}\t{i // 10} {i % 10}\tCC-BY\n" for i in range(100)))

pl.seed_everything(0)
dm = Seq2SeqDataModule(str(path), batch_size=16, corpus_options={"tokenizer": "whitespace", "on_error": "skip"})
model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, Seq2SeqConfig(hidden_size=64, embedding_dim=32), lr=1e-2)
pl.Trainer(max_epochs=15, logger=False, enable_checkpointing=False, enable_progress_bar=False).fit(model, datamodule=dm)
print(dm.corpus.summary())
print(model.translate(["seven three", "two nine"]))
