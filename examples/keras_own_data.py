"""Your own TSV, a BPE tokenizer, your own tf.data pipeline: model.fit, text out, a model directory, an ONNX
export served by ``seq2seq-fit translate`` (numpy + onnxruntime, no TensorFlow). Any Keras backend.

python examples/keras_own_data.py my_pairs.tsv     # without an argument: a generated numbers file
"""

import subprocess
import sys
from pathlib import Path

import tensorflow as tf

import keras
from keras_seq2seq import Seq2SeqModel
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
batch = dict(collate_pairs(ids))  # source, source_lengths, target_in, target_out (seq2seq_fit.Batch)
train = tf.data.Dataset.from_tensor_slices(batch).shuffle(100, seed=0).batch(16)

keras.utils.set_random_seed(0)
model = Seq2SeqModel(src_vocab, tgt_vocab, {"hidden_size": 64, "embedding_dim": 32},
                     src_tokenizer=src_tok, tgt_tokenizer=tgt_tok)  # fmt: skip
model.compile(optimizer=keras.optimizers.Adam(1e-2))
history = model.fit(train, epochs=25, validation_data=dict(collate_pairs(ids[::10])), verbose=0)
print("val_exact_match", history.history["val_exact_match"][-1])
print(model.translate(["seventy-three", "twenty-nine"], detokenize=True))  # text, not pieces

model.save_pretrained("numbers-model")  # config.json, vocab.json, tokenizer files, model.safetensors
model.export("numbers-onnx", format="onnx")  # the same as model.export_onnx("numbers-onnx")
serve = [sys.executable, "-m", "seq2seq_fit.cli", "translate", "--model", "numbers-onnx", "seventy-three"]
served = subprocess.run(serve, capture_output=True, text=True, check=True).stdout.strip()  # seq2seq-fit translate
print("served:", served)
assert served == model.translate(["seventy-three"], detokenize=True)[0]
