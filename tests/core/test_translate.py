"""The translate driver both frameworks call, on a numpy stand-in model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from seq2seq_fit import limits
from seq2seq_fit.errors import InputError
from seq2seq_fit.generation_config import GenerationConfig
from seq2seq_fit.translate import UnknownTokensWarning, translate
from seq2seq_fit.vocab import EOS_ID, PAD_ID, UNK_ID, Vocab

VOCAB = Vocab.build([list("abcde")])  # one vocabulary for both sides, so a copy is the identity on ids


class CopyDecoder:
    """Copies its source token by token (attention one-hot on the copied position), then ``<eos>``;
    with ``loop`` it repeats the last source token instead and never ends."""

    def __init__(self, has_attention: bool = True, loop: bool = False) -> None:
        self.has_attention = has_attention
        self.loop = loop
        self.batches: list[tuple[int, int]] = []
        self.asked: set[bool] = set()  # the values of step's attention argument

    def start(self, source_ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
        assert source_ids.dtype == np.int64 and lengths.dtype == np.int64
        assert (lengths > 0).all(), "empty sources are never decoded"
        assert ((source_ids != PAD_ID).sum(1) == lengths).all()
        self.batches.append(source_ids.shape)
        return source_ids, lengths, np.zeros(len(lengths), dtype=np.int64)

    def step(
        self, tokens: np.ndarray, state: tuple[np.ndarray, ...], *, attention: bool
    ) -> tuple[np.ndarray, tuple, np.ndarray | None]:
        self.asked.add(attention)
        source, lengths, position = state
        rows = np.arange(len(tokens))
        at = np.minimum(position, lengths - 1)
        copied = source[rows, at]
        target = copied if self.loop else np.where(position < lengths, copied, EOS_ID)
        logits = np.full((len(tokens), len(VOCAB)), -5.0, dtype=np.float32)
        logits[rows, target] = 5.0
        weights = np.eye(source.shape[1], dtype=np.float32)[at] if self.has_attention and attention else None
        return logits, (source, lengths, position + 1), weights

    def reorder(self, state: tuple[np.ndarray, ...], index: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(x[index] for x in state)


class Uniform(CopyDecoder):
    """Every token equally likely at every step: what ``sample`` draws shows only its random numbers."""

    def step(self, tokens, state, *, attention):
        _, state, weights = super().step(tokens, state, attention=attention)
        return np.zeros((len(tokens), len(VOCAB)), dtype=np.float32), state, weights


def run(sources, decoder=None, generation_config=None, **kwargs):
    return translate(decoder or CopyDecoder(), VOCAB, VOCAB, sources, generation_config, **kwargs)


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_outputs_keep_the_order_of_the_sources(strategy):
    sources = ["a b", "c d e a b", "e", ["b", "a"]]
    assert run(sources, strategy=strategy, seed=0) == [["a", "b"], ["c", "d", "e", "a", "b"], ["e"], ["b", "a"]]


def test_tokenizers_share_the_core_names():
    assert run(["abc"], tokenizer="chars") == run(["abc"], tokenizer="char") == [["a", "b", "c"]]
    assert run(["a-b"], tokenizer=lambda s: s.split("-")) == [["a", "b"]]
    with pytest.raises(ValueError, match=r"translate\.tokenizer: got 'space'"):
        run(["a b"], tokenizer="space")


@pytest.mark.filterwarnings("ignore::seq2seq_fit.translate.UnknownTokensWarning")
def test_attention_has_one_row_per_output_token_and_one_column_per_source_token():
    sources = ["a b c", "d", "a z b"]
    outputs, attention = run(sources, return_attention=True, batch_size=2)
    for output, source, weights in zip(outputs, sources, attention, strict=True):
        assert weights.dtype == np.float32
        assert weights.shape == (len(output), len(source.split())) == (len(source.split()),) * 2
        np.testing.assert_array_equal(weights, np.eye(len(output)), "row i attends to the copied token i")
    _, beam_attention = run(sources, return_attention=True, strategy="beam", beam_width=3)
    for a, b in zip(attention, beam_attention, strict=True):
        np.testing.assert_array_equal(a, b)


def test_return_attention_without_attention_is_an_error():
    with pytest.raises(ValueError, match=r"translate\.return_attention: got True, but this model has attention='none'"):
        run(["a"], CopyDecoder(has_attention=False), return_attention=True)
    assert run(["a"], CopyDecoder(has_attention=False)) == [["a"]]


def test_an_empty_source_gives_an_empty_output_without_decoding():
    decoder = CopyDecoder()
    outputs, attention = run(["", "a b", [], "   "], decoder, return_attention=True)
    assert outputs == [[], ["a", "b"], [], []]
    assert [w.shape for w in attention] == [(0, 0), (2, 2), (0, 0), (0, 0)]
    assert decoder.batches == [(1, 2)], "only the non-empty source reaches the model"
    nothing = CopyDecoder()
    assert run(["", []], nothing) == [[], []] and nothing.batches == []
    assert run([]) == []


def test_unknown_tokens_give_one_warning_naming_them_and_counting_the_sources():
    with pytest.warns(UnknownTokensWarning) as record:
        outputs = run(["a 2", "b", "1 a 2", "c", "d"])
    assert len(record) == 1
    assert str(record[0].message) == (
        "translate: 2 of 5 sources have tokens not in the source vocabulary, read as <unk>: '1', '2'"
    )
    assert outputs[0] == ["a", "<unk>"], "unknown tokens decode as <unk>, as before"
    many = [" ".join(f"w{i:02d}" for i in range(13))]
    with pytest.warns(UnknownTokensWarning, match=r"1 of 1 sources .*'w00', .*'w09' and 3 more$"):
        run(many)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(["a b", "<unk> c"])  # every token known: no warning


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_batching_does_not_change_outputs(strategy):
    sources = ["a", "b c d e a b", "c d", "e e e e", "a b c"]
    decoder = CopyDecoder(loop=True)  # never ends: each output is as long as its own budget
    kwargs = {"strategy": strategy, "seed": 3, "temperature": 3.0}
    one_batch = run(sources, decoder, batch_size=64, **kwargs)
    one_by_one = run(sources, decoder, batch_size=1, **kwargs)
    pairs = run(sources, decoder, batch_size=2, **kwargs)
    assert one_batch == one_by_one == pairs
    if strategy != "sample":
        assert [len(out) for out in one_batch] == [2 * len(s.split()) + 10 for s in sources]


def test_max_length_caps_every_output():
    outputs = run(["a b c d", "e"], CopyDecoder(loop=True), max_length=3)
    assert outputs == [["a", "b", "c"], ["e", "e", "e"]]
    assert run(["a b c d"], max_length=4) == [["a", "b", "c", "d"]], "the cut falls where <eos> would have come"


def test_sampling_is_reproducible_with_a_seed():
    sources = ["a b c"] * 6
    first = run(sources, Uniform(), strategy="sample", seed=1)
    assert run(sources, Uniform(), strategy="sample", seed=1) == first
    assert run(sources, Uniform(), strategy="sample", seed=2) != first
    assert len({tuple(out) for out in first}) > 1, "each source draws its own tokens"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "topk"}, "translate.strategy: got 'topk', expected one of 'greedy', 'sample', 'beam'"),
        ({"beam_width": 0}, "translate.beam_width: got 0, expected an integer >= 1"),
        ({"length_penalty": -1.0}, "translate.length_penalty: got -1.0"),
        ({"temperature": 0.0}, "translate.temperature: got 0.0"),
        ({"top_k": 0}, "translate.top_k: got 0, expected an integer >= 1"),
        ({"max_length": 0}, "translate.max_length: got 0, expected an integer >= 1"),
        ({"return_attention": 1}, "translate.return_attention: got 1, expected True or False"),
        ({"tokenizer": "bpe"}, "translate.tokenizer: got 'bpe'"),
        ({"batch_size": 0}, "translate.batch_size: got 0, expected an integer >= 1"),
        ({"seed": -1}, "translate.seed: got -1, expected an integer >= 0"),
        ({"detokenize": "yes"}, "translate.detokenize: got 'yes', expected True or False"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_value(kwargs, message):
    with pytest.raises(ValueError) as error:
        GenerationConfig(**kwargs)
    assert str(error.value).startswith(message)
    decoder = CopyDecoder()
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        run([], decoder, **kwargs)  # checked even when there is nothing to decode


def test_a_generation_config_and_keywords_decode_alike_the_keywords_winning():
    beam = GenerationConfig(strategy="beam", beam_width=2, max_length=2)
    assert run(["a b c"], CopyDecoder(), beam) == run(
        ["a b c"], CopyDecoder(), strategy="beam", beam_width=2, max_length=2
    )
    assert run(["a b c"], CopyDecoder(), beam, max_length=3) == [["a", "b", "c"]]
    assert run(["a b c"], CopyDecoder(), {"max_length": 1}) == [["a"]]
    assert beam == GenerationConfig(**beam.to_dict()) and hash(beam) == hash(GenerationConfig(**beam.to_dict()))


def test_an_unknown_option_is_one_line_naming_the_allowed_ones():
    with pytest.raises(TypeError) as error:
        run(["a"], CopyDecoder(), num_beams=3)
    message = str(error.value)
    assert message.startswith("translate: got an unknown option 'num_beams'; expected strategy, beam_width,")
    assert "\n" not in message and message.endswith("seed, detokenize")
    with pytest.raises(TypeError, match=r"'temprature' \(did you mean 'temperature'\?\)"):
        run(["a"], CopyDecoder(), GenerationConfig(), temprature=0.5)


def test_bad_sources_are_named():
    with pytest.raises(ValueError, match=r"translate\.sources: got 'a b', expected a list of sources"):
        run("a b")
    with pytest.raises(
        ValueError, match=r"translate\.sources\[1\]: got 5, expected a string or a list of token strings"
    ):
        run(["a", 5])


def test_a_sampled_output_depends_neither_on_the_other_sources_nor_on_the_batching():
    base = run(["a b", "c", "d e"], Uniform(), strategy="sample", seed=7, batch_size=64)
    longer = run(["a b", "c d e a b c d e a b", "d e"], Uniform(), strategy="sample", seed=7, batch_size=1)
    paired = run(["a b", "e", "d e"], Uniform(), strategy="sample", seed=7, batch_size=2)
    assert base[0] == longer[0] == paired[0], "source 0 draws from its own generator"
    assert base[2] == longer[2] == paired[2]


@pytest.mark.parametrize("special", ["<pad>", "<bos>", "<eos>"])
def test_a_special_token_written_in_a_source_is_read_as_unk_and_named(special):
    seen: list[np.ndarray] = []

    class Recording(CopyDecoder):
        def start(self, source_ids, lengths):
            seen.append(source_ids.copy())
            return super().start(source_ids, lengths)

    with pytest.warns(UnknownTokensWarning, match=rf"1 of 2 sources .* read as <unk>: '{special}'$"):
        outputs = run([f"a {special} b", "c"], Recording(), batch_size=1)
    assert seen[0].tolist() == [[VOCAB.id("a"), UNK_ID, VOCAB.id("b")]], "never <pad>/<bos>/<eos> inside a source"
    assert outputs == [["a", "<unk>", "b"], ["c"]], "decoded as any unknown token"


def test_the_unknown_token_warning_points_at_the_callers_line():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        run(["z"])  # run() here calls seq2seq_fit.translate.translate directly
    (warning,) = record
    assert warning.filename == __file__, "stacklevel skips the package's own frames"


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_the_decoder_is_asked_for_attention_only_when_it_is_returned(strategy):
    quiet, loud = CopyDecoder(), CopyDecoder()
    run(["a b", "c"], quiet, strategy=strategy, seed=0)
    run(["a b", "c"], loud, strategy=strategy, seed=0, return_attention=True)
    assert quiet.asked == {False} and loud.asked == {True}


@pytest.mark.parametrize(
    ("kwargs", "limit"),
    [
        ({"max_length": 10**9}, "MAX_LENGTH"),
        ({"strategy": "beam", "beam_width": 10**6}, "MAX_BEAM_WIDTH"),
        ({"batch_size": 10**7}, "MAX_BATCH_SIZE"),
    ],
)
def test_arguments_past_a_documented_limit_are_refused_before_any_work_naming_the_limit(kwargs, limit):
    decoder = CopyDecoder()
    (name, value), *_ = ((k, v) for k, v in kwargs.items() if k != "strategy")
    with pytest.raises(InputError) as error:
        run(["a b"], decoder, **kwargs)
    message = str(error.value)
    assert message.startswith(f"translate.{name}: got {value}, expected an integer in [1, {getattr(limits, limit)}]")
    assert f"seq2seq_fit.limits.{limit}; raise it" in message and "\n" not in message
    assert decoder.batches == [], "refused before the model ran"


def test_a_raised_limit_lets_a_call_through(monkeypatch):
    with pytest.raises(InputError, match="MAX_BEAM_WIDTH"):
        run(["a b"], strategy="beam", beam_width=limits.MAX_BEAM_WIDTH + 1)
    monkeypatch.setattr(limits, "MAX_BEAM_WIDTH", limits.MAX_BEAM_WIDTH + 1)
    assert run(["a b"], strategy="beam", beam_width=limits.MAX_BEAM_WIDTH) == [["a", "b"]]


def test_a_source_past_max_source_tokens_is_refused_by_index_before_any_work():
    decoder = CopyDecoder()
    long_source = "a" * 100_000  # one token per character with the chars tokenizer
    with pytest.raises(InputError) as error:
        run(["a b", long_source], decoder, tokenizer="chars", return_attention=True)
    assert str(error.value) == (
        f"translate.sources[1]: 100000 tokens, expected at most {limits.MAX_SOURCE_TOKENS} "
        "(seq2seq_fit.limits.MAX_SOURCE_TOKENS; raise it for a source you trust)"
    )
    assert decoder.batches == []
    longest = ["a"] * limits.MAX_SOURCE_TOKENS  # the limit itself is allowed
    assert run([longest], max_length=2) == [["a", "a"]]


@pytest.mark.parametrize("strategy", ["greedy", "sample", "beam"])
def test_memory_follows_the_steps_taken_not_max_length(strategy, monkeypatch):
    """A 3-token output with max_length 10**6 (a raised limit) allocates for 3 steps, not 10**6."""
    import tracemalloc

    monkeypatch.setattr(limits, "MAX_LENGTH", 10**6)
    sources = ["a b c"] * 4
    tracemalloc.start()
    try:
        outputs, attention = run(sources, strategy=strategy, beam_width=2, max_length=10**6, return_attention=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if strategy != "sample":
        assert outputs == [["a", "b", "c"]] * 4
        assert [weights.shape for weights in attention] == [(3, 3)] * 4
    assert peak < 40 * 10**6, f"peak {peak / 1e6:.0f} MB"
