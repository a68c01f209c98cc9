"""Your own TSV, a BPE tokenizer, your own DataLoader: Trainer.fit, text out, a model directory, an ONNX export
served by ``seq2seq-fit translate`` (numpy + onnxruntime, no torch).

python examples/lightning_own_data.py my_pairs.tsv     # without an argument: a generated numbers file
"""

import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from lit_seq2seq import LitSeq2Seq
from seq2seq_fit import Vocab, collate_pairs, train_tokenizer

if len(sys.argv) > 1:
    tsv = Path(sys.argv[1])
else:  # number words to digits: "forty-two<TAB>42"
    ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    teens = ["ten", "eleven", "twelve"] + [p + "teen" for p in ("thir", "four", "fif", "six", "seven", "eigh", "nine")]
    tens = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    name = ones + teens + [t + ("-" + o) * (o != "zero") for t in tens for o in ones]
    tsv = Path("numbers.tsv")
    tsv.write_text("".join(f"{name[n]}\t{n}\n" for n in range(100)), encoding="utf-8")

pairs = [line.split("\t")[:2] for line in tsv.read_text(encoding="utf-8").splitlines() if "\t" in line]
src_tok = train_tokenizer([s for s, _ in pairs], "bpe", vocab_size=60)  # or as_tokenizer("tokenizer.json")
tgt_tok = train_tokenizer([t for _, t in pairs], "bpe", vocab_size=20)
src_vocab, tgt_vocab = Vocab(src_tok.vocab_tokens()), Vocab(tgt_tok.vocab_tokens())
ids = [(src_vocab.encode(src_tok.tokenize(s)), tgt_vocab.encode(tgt_tok.tokenize(t))) for s, t in pairs]
loader = DataLoader(ids, batch_size=16, shuffle=True, collate_fn=collate_pairs)  # yields seq2seq_fit.Batch dicts

pl.seed_everything(0)
model = LitSeq2Seq(src_vocab, tgt_vocab, {"hidden_size": 64, "embedding_dim": 32}, lr=1e-2,
                   src_tokenizer=src_tok, tgt_tokenizer=tgt_tok)  # fmt: skip
trainer = pl.Trainer(max_epochs=25, logger=False, enable_checkpointing=False, enable_progress_bar=False)
trainer.fit(model, loader, DataLoader(ids[::10], batch_size=16, collate_fn=collate_pairs))
print("val/exact_match", float(trainer.callback_metrics["val/exact_match"]))
print(model.translate(["seventy-three", "twenty-nine"], detokenize=True))  # text, not pieces

model.save_pretrained("numbers-model")  # config.json, vocab.json, tokenizer files, model.safetensors
model.export_onnx("numbers-onnx")  # or model.to_onnx("numbers-onnx")
serve = [sys.executable, "-m", "seq2seq_fit.cli", "translate", "--model", "numbers-onnx", "seventy-three"]
served = subprocess.run(serve, capture_output=True, text=True, check=True).stdout.strip()  # seq2seq-fit translate
print("served:", served)
assert served == model.translate(["seventy-three"], detokenize=True)[0]
