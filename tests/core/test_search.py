"""The one search both frameworks call: greedy, sampling and beam search on hand-made step functions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from seq2seq_fit.decoding import length_penalty
from seq2seq_fit.search import beam_search, greedy, sample, top_candidates
from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

A, B = 4, 5  # two ordinary tokens after the specials <pad> <bos> <eos> <unk>
V = 6


class Bigram:
    """A model whose next-token distribution depends on its row and the previous token only.

    ``tables[r, prev]`` is row ``r``'s distribution after ``prev``. The state holds each row's
    table and the token fed one step earlier; the attention of a step is half the one-hot of the
    token fed now and half that of the token fed before (``<pad>`` at first), so a wrong
    ``reorder`` shows in the attention rows.
    """

    def __init__(self, tables: np.ndarray) -> None:
        self.log_tables = np.log(np.asarray(tables, dtype=np.float64)).astype(np.float32)  # (R, V, V)
        self.calls = 0

    def start(self) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(self.log_tables))
        return rows, np.full_like(rows, PAD_ID)  # (B,) table, (B,) token fed before

    def step(self, tokens: np.ndarray, state: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, tuple, np.ndarray]:
        rows, before = state
        assert tokens.dtype == np.int64 and tokens.shape == rows.shape
        self.calls += 1
        eye = np.eye(V, dtype=np.float32)
        attention = 0.5 * eye[tokens] + 0.5 * eye[before]  # (N, S = V)
        return self.log_tables[rows, tokens], (rows, tokens), attention

    @staticmethod
    def reorder(state: tuple[np.ndarray, np.ndarray], index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return state[0][index], state[1][index]


def expected_attention(ids: list[int]) -> np.ndarray:
    """The attention rows :class:`Bigram` gives the hypothesis ``ids``."""
    fed = [BOS_ID, *ids[:-1]]
    eye = np.eye(V, dtype=np.float32)
    return 0.5 * eye[fed] + 0.5 * eye[[PAD_ID, *fed[:-1]]]


def distribution(**probs: float) -> np.ndarray:
    """A next-token distribution over ``V`` ids from ``eos=..., a=..., b=..., c=...`` (``c`` is
    ``<unk>``, a token like any other here); the rest share 1e-4."""
    names = {"eos": EOS_ID, "a": A, "b": B, "c": UNK_ID}
    p = np.full(V, 1e-4)
    for name, value in probs.items():
        p[names[name]] = value
    return p / p.sum()


def table(
    after_bos: np.ndarray, after_a: np.ndarray, after_b: np.ndarray, after_c: np.ndarray | None = None
) -> np.ndarray:
    """One row's (V, V) table; after any other token, ``<eos>``."""
    t = np.tile(distribution(eos=1.0), (V, 1))
    t[BOS_ID], t[A], t[B] = after_bos, after_a, after_b
    if after_c is not None:
        t[UNK_ID] = after_c
    return t


#: Greedy takes ``a`` (0.5), then wanders among a/b/eos at ~1/3 each; ``b <eos>`` has 0.4 * 0.9.
GARDEN_PATH = table(
    distribution(a=0.5, b=0.4, eos=0.1), distribution(a=0.34, b=0.33, eos=0.33), distribution(eos=0.9, a=0.1)
)
#: ``<eos>`` at once has 0.4; ``a b <eos>`` has 0.6 * 0.7 * 0.714 ~ 0.3: longer, less likely.
SHORT_OR_LONG = table(
    distribution(eos=0.4, a=0.6), distribution(b=0.7, a=0.25, eos=0.05), distribution(eos=0.714, a=0.286)
)


def log_prob(t: np.ndarray, ids: list[int]) -> float:
    prev, total = BOS_ID, 0.0
    for token in ids:
        total += float(np.log(t[prev, token]))
        prev = token
    return total


def run_beam(model: Bigram, max_length, **kwargs):
    return beam_search(model.step, model.reorder, model.start(), len(model.log_tables), max_length, **kwargs)


def test_beam_finds_a_more_likely_sequence_than_greedy():
    model = Bigram(GARDEN_PATH[None])
    g = greedy(model.step, model.start(), 1, 8)
    beam = run_beam(model, 8, beam_width=2)
    assert g.ids[0, 0] == A and beam.ids[0].tolist() == [B, EOS_ID]
    assert beam.scores[0] == pytest.approx(np.log(0.4 * 0.9), abs=1e-3)
    assert beam.scores[0] > g.scores[0]
    assert g.scores[0] == pytest.approx(log_prob(GARDEN_PATH, g.ids[0, : g.lengths[0]].tolist()), abs=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_beam_width_one_without_length_penalty_is_greedy_exactly(seed):
    rng = np.random.default_rng(seed)
    tables = rng.dirichlet(np.full(V, 0.3), size=(5, V))  # 5 rows, peaked random bigrams
    tables[:, :, EOS_ID] += 0.05
    tables /= tables.sum(-1, keepdims=True)
    limits = np.array([1, 3, 6, 9, 12])
    g = greedy(Bigram(tables).step, Bigram(tables).start(), 5, limits)
    model = Bigram(tables)
    beam = run_beam(model, limits, beam_width=1, length_penalty=0.0)
    np.testing.assert_array_equal(beam.lengths, g.lengths)
    for row in range(5):
        n = g.lengths[row]
        assert beam.ids[row, :n].tolist() == g.ids[row, :n].tolist()
        np.testing.assert_array_equal(beam.attention[row, :n], g.attention[row, :n])
    np.testing.assert_array_equal(beam.scores, g.scores)
    assert (g.lengths <= limits).all()


def test_length_penalty_changes_the_winner_in_a_hand_computed_case():
    t = SHORT_OR_LONG
    short, long_ = [EOS_ID], [A, B, EOS_ID]
    # raw log probability prefers <eos> (0.4 vs 0.3); with alpha = 1, lp(1) = 1 and lp(3) = 8 / 6
    assert log_prob(t, short) > log_prob(t, long_)
    assert log_prob(t, long_) / length_penalty(3, 1.0) > log_prob(t, short)
    model = Bigram(t[None])
    plain = run_beam(model, 10, beam_width=2, length_penalty=0.0)
    assert plain.ids[0].tolist() == short
    assert plain.scores[0] == pytest.approx(log_prob(t, short))
    penalised = run_beam(model, 10, beam_width=2, length_penalty=1.0)
    assert penalised.ids[0].tolist() == long_
    assert penalised.scores[0] == pytest.approx(log_prob(t, long_) / length_penalty(3, 1.0))


def test_max_length_force_finishes_live_beams_scored_with_their_length():
    t = SHORT_OR_LONG
    model = Bigram(t[None])
    cut = run_beam(model, 2, beam_width=2, length_penalty=1.0)
    # ``a b`` (0.42, cut before its <eos>) / lp(2) beats ``<eos>`` (0.4) / lp(1)
    assert cut.ids[0].tolist() == [A, B] and cut.lengths[0] == 2
    assert cut.scores[0] == pytest.approx(log_prob(t, [A, B]) / length_penalty(2, 1.0))
    one = run_beam(model, 1, beam_width=3, length_penalty=0.0)
    assert one.ids[0].tolist() == [A], "one step: the likeliest first token, finished or not"


def test_max_length_per_row():
    model = Bigram(np.stack([SHORT_OR_LONG, SHORT_OR_LONG, GARDEN_PATH]))
    beam = run_beam(model, np.array([2, 10, 1]), beam_width=2, length_penalty=1.0)
    assert beam.ids[0, : beam.lengths[0]].tolist() == [A, B]
    assert beam.ids[1, : beam.lengths[1]].tolist() == [A, B, EOS_ID]
    assert beam.ids[2, : beam.lengths[2]].tolist() == [A]
    g = greedy(model.step, model.start(), 3, np.array([3, 1, 5]))
    assert g.lengths.tolist() == [3, 1, 5] and g.ids.shape == (3, 5)
    assert (g.ids[0, 3:] == PAD_ID).all() and (g.attention[0, 3:] == 0).all()


def test_greedy_pads_after_eos_and_stops_when_every_row_has():
    after_bos = np.stack([distribution(eos=0.9), distribution(a=0.9)])  # row 0 ends at once, row 1 after ``a``
    tables = np.stack(
        [
            table(after_bos[0], distribution(eos=0.9), distribution(eos=0.9)),
            table(after_bos[1], distribution(eos=0.9), distribution(eos=0.9)),
        ]
    )
    model = Bigram(tables)
    g = greedy(model.step, model.start(), 2, 50)
    assert g.ids.tolist() == [[EOS_ID, PAD_ID], [A, EOS_ID]]
    assert g.lengths.tolist() == [1, 2]
    assert model.calls == 2, "one step call per token for the whole batch"
    np.testing.assert_array_equal(g.attention[0], [expected_attention([EOS_ID])[0], np.zeros(V)])
    np.testing.assert_array_equal(g.attention[1], expected_attention([A, EOS_ID]))


def exhaustive_best(t: np.ndarray, max_length: int, alpha: float) -> list[int]:
    ranked = {}
    others = [tok for tok in range(V) if tok != EOS_ID]
    for n in range(1, max_length + 1):
        for prefix in itertools.product(others, repeat=n - 1):
            endings = [EOS_ID, *others] if n == max_length else [EOS_ID]
            for last in endings:
                ids = [*prefix, last]
                ranked[tuple(ids)] = log_prob(t, ids) / length_penalty(n, alpha)
    return list(max(ranked, key=ranked.__getitem__))


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5])
def test_a_beam_wider_than_all_prefixes_finds_the_exhaustive_best(alpha):
    rng = np.random.default_rng(7)
    tables = rng.dirichlet(np.full(V, 0.5), size=(3, V))
    model = Bigram(tables)
    beam = run_beam(model, 3, beam_width=(V - 1) ** 3, length_penalty=alpha)
    for row in range(3):
        assert beam.ids[row, : beam.lengths[row]].tolist() == exhaustive_best(tables[row], 3, alpha)
        ids = beam.ids[row, : beam.lengths[row]].tolist()
        assert beam.scores[row] == pytest.approx(log_prob(tables[row], ids) / length_penalty(len(ids), alpha))
        np.testing.assert_array_equal(beam.attention[row, : len(ids)], expected_attention(ids))


def test_beam_attention_rows_belong_to_the_returned_hypothesis():
    # ``b c <eos>``: ``b`` ranks second at step 1 (second beam), ``b c`` first at step 2 (first beam)
    overtakes = table(
        distribution(a=0.5, b=0.45, eos=0.05),
        distribution(a=0.34, b=0.33, eos=0.33),
        distribution(c=0.95),
        distribution(eos=0.95),
    )
    model = Bigram(np.stack([GARDEN_PATH, SHORT_OR_LONG, overtakes]))
    beam = run_beam(model, 6, beam_width=3, length_penalty=0.6)
    assert beam.ids[2].tolist() == [B, UNK_ID, EOS_ID]
    for row in range(3):
        ids = beam.ids[row, : beam.lengths[row]].tolist()
        np.testing.assert_array_equal(beam.attention[row, : len(ids)], expected_attention(ids))


def test_beam_stops_once_no_live_beam_can_win():
    model = Bigram(np.stack([GARDEN_PATH, GARDEN_PATH]))
    run_beam(model, 100, beam_width=2)
    assert model.calls < 10


def sample_run(model: Bigram, seed: int, rows: int = 1, max_length: int = 6, **kwargs):
    uniforms = np.random.default_rng(seed).random((rows, max_length))
    state = np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=np.int64)
    return sample(model.step, state, rows, max_length, uniforms, **kwargs)


def test_sampling_is_reproducible_with_a_seed():
    flat = table(np.full(V, 1 / V), np.full(V, 1 / V), np.full(V, 1 / V))
    model = Bigram(flat[None])
    first, again = sample_run(model, 0, rows=20), sample_run(model, 0, rows=20)
    np.testing.assert_array_equal(first.ids, again.ids)
    assert not np.array_equal(first.ids, sample_run(model, 1, rows=20).ids)


def test_sampling_follows_the_distribution_and_respects_top_k():
    p = distribution(a=0.5, b=0.3, eos=0.2)
    model = Bigram(table(p, p, p)[None])
    n = 4000
    counts = np.bincount(sample_run(model, 0, rows=n, max_length=1).ids[:, 0], minlength=V) / n
    np.testing.assert_allclose(counts, p, atol=0.03)
    top2 = sample_run(model, 0, rows=n, max_length=1, top_k=2).ids[:, 0]
    assert set(top2.tolist()) == {A, B}
    assert abs(np.mean(top2 == A) - 0.5 / 0.8) < 0.03
    cold = sample_run(model, 0, rows=n, max_length=1, temperature=0.05).ids[:, 0]
    assert np.mean(cold == A) > 0.99, "a low temperature approaches greedy"
    assert (
        sample_run(model, 3, rows=50, top_k=1).ids.tolist()
        == greedy(model.step, (np.zeros(50, np.int64),) * 2, 50, 6).ids.tolist()
    )


def test_top_candidates_ranks_ties_by_lowest_index():
    scores = np.array([[0.0, 2.0, 1.0, 2.0, 1.0, -np.inf], [np.nan, 1.0, 1.0, 1.0, 1.0, 1.0]])
    assert top_candidates(scores, 3).tolist() == [[1, 3, 2], [1, 2, 3]]
