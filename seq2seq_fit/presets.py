"""Named model sizes used by the demo and the benchmarks, so a result names the model it ran.

The numbers are those of the published results in ``benchmarks/results/``; changing one changes
what those results mean, so add a preset rather than edit one.
"""

from __future__ import annotations

from dataclasses import replace

from seq2seq_fit.config import Seq2SeqConfig

#: The bidirectional 2x512 LSTM with Luong ``general`` attention of the ``gpu`` preset.
BI_LSTM_2X512 = Seq2SeqConfig(
    cell="lstm",
    embedding_dim=128,
    hidden_size=512,
    num_layers=2,
    bidirectional=True,
    attention="luong",
    luong_score="general",
    dropout=0.3,
    label_smoothing=0.1,
)

#: The bidirectional GRU of 256 with Luong attention of the ``cpu`` preset.
BI_GRU_256 = Seq2SeqConfig(
    cell="gru", embedding_dim=64, hidden_size=256, num_layers=1, bidirectional=True, attention="luong", dropout=0.1
)

#: The ``cpu`` model with Bahdanau attention, of the ``cpu-bahdanau`` preset.
BI_GRU_256_BAHDANAU = replace(BI_GRU_256, attention="bahdanau")

#: ``gpu``: the G2P model of the quality benchmark on a GPU (``benchmarks.g2p --preset gpu``), a
#: bidirectional 2x512 LSTM with Luong ``general`` attention.
#: ``cpu``: the smaller G2P model of the 2-core CPU runs and of ``lit_seq2seq.demo``, a bi-GRU of 256
#: with Luong attention.
#: ``cpu-large``: the larger CPU G2P model (``make bench-g2p-large``: 20 epochs, at most 2 hours a run on one core of
#: the 2-core machine), a one-layer bidirectional LSTM of 384 with Luong ``general`` attention, dropout 0.3 and label
#: smoothing 0.1. The ``gpu`` size led a 2x384 bi-GRU in 4-epoch tuning runs (``benchmarks/results/g2p_tune-*.md``),
#: but at about 2 s a step on one core (batch 256) its 20 epochs take about 5 hours; this one takes about 0.5 s.
#: ``cpu-reg``: the ``cpu`` model with dropout 0.25 and label smoothing 0.1, for long (80-epoch) G2P runs.
#: ``cpu-bahdanau``: the ``cpu`` model with Bahdanau attention (the context feeds the decoder RNN's input), about
#: 1.5x the ``cpu`` model's step time.
#: ``cpu-bahdanau-384``: a wider Bahdanau GRU (384, embedding 128, dropout 0.2, label smoothing 0.1), about the step
#: time of ``cpu-large``; the G2P preset under 26% greedy test WER in both frameworks (``make bench-g2p-bahdanau``,
#: 20 epochs at batch 256 on one core: Lightning 25.32% and 25.64% (seeds 0, 1), about 82 minutes; Keras on JAX 25.36%,
#: 97 minutes).
#: ``cpu-transformer``: a pre-LN Transformer for G2P on one CPU core, the small character-level G2P size of the
#: literature (model width 256, 3 encoder and 3 decoder blocks, 4 heads, feed-forward 1,024, dropout 0.1, label
#: smoothing 0.1; 5.6M parameters). Its output layer is not tied to the target embedding: tied, the initial loss on
#: CMUdict is 6.5 nats against 4.4 untied (ln 43 = 3.8), and the 43 target tokens save only 11k weights. At batch 256
#: on one core a teacher-forced step took 1.34 s in Lightning, 2.35-2.47 s in Keras on JAX and about 1.8 CPU-s in
#: Keras on torch (30 steps on a shared core), so ``benchmarks/configs/g2p-cpu-transformer.yaml`` trains 7 epochs
#: (3,108 steps) within the 2-hour cap (``make bench-g2p-transformer``; no committed figures yet).
#: ``gnmt``: the GNMT-like size of ``benchmarks.throughput`` (2+2 LSTM 512, Luong attention).
PRESETS: dict[str, Seq2SeqConfig] = {
    "gpu": BI_LSTM_2X512,
    "cpu": BI_GRU_256,
    "cpu-large": replace(BI_LSTM_2X512, hidden_size=384, num_layers=1),
    "cpu-reg": replace(BI_GRU_256, dropout=0.25, label_smoothing=0.1),
    "cpu-bahdanau": BI_GRU_256_BAHDANAU,
    "cpu-bahdanau-384": replace(
        BI_GRU_256_BAHDANAU, embedding_dim=128, hidden_size=384, dropout=0.2, label_smoothing=0.1
    ),
    "cpu-transformer": Seq2SeqConfig(
        architecture="transformer",
        embedding_dim=256,
        hidden_size=256,
        num_layers=3,
        num_heads=4,
        ffn_size=1024,
        dropout=0.1,
        label_smoothing=0.1,
    ),
    "gnmt": Seq2SeqConfig(cell="lstm", embedding_dim=512, hidden_size=512, num_layers=2, attention="luong"),
}
