"""The evaluation scores both trainers log: hand-computed cases, sacrebleu as the BLEU reference,
multi-reference exact match and WER/PER (Sequitur's rule), empty input, and the metric-name table."""

import pytest
import sacrebleu
from hypothesis import given
from hypothesis import strategies as st

from seq2seq_fit.decoding import length_budget
from seq2seq_fit.scores import (
    EVAL_METRICS,
    TRAIN_METRICS,
    EvalRecord,
    bleu,
    edit_distance,
    eval_records,
    exact_match,
    free_running_scores,
    g2p_scores,
    group_references,
    metric_name,
    phone_error_rate,
    token_accuracy,
    word_error_rate,
)
from seq2seq_fit.vocab import EOS_ID, PAD_ID, Vocab


def reference_edit_distance(a, b):
    """Textbook dynamic programme, to check the library call against."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


@given(st.lists(st.sampled_from("abcd"), max_size=8), st.lists(st.sampled_from("abcd"), max_size=8))
def test_edit_distance_matches_reference(a, b):
    assert edit_distance(a, b) == reference_edit_distance(a, b)


def test_any_reference_counts_as_correct():
    hyps = [["T", "OW", "M"], ["K", "AE", "T"]]
    refs = [[["T", "AH", "M"], ["T", "OW", "M"]], [["K", "AE", "T", "S"]]]
    s = g2p_scores(hyps, refs)
    assert s.word_errors == 1 and s.wer == pytest.approx(50.0)
    # word 1 matches its second reference (0 errors, length 3); word 2: 1 deletion of 4 phones.
    assert (s.phone_errors, s.phones) == (1, 7)
    assert s.per == pytest.approx(100 * 1 / 7)
    assert word_error_rate(hyps, refs) == s.wer
    assert phone_error_rate(hyps, refs) == s.per


def test_per_uses_the_closest_reference_length():
    # Closest reference is the 2-phone one (1 substitution), not the 5-phone one.
    s = g2p_scores([["A", "X"]], [[["A", "B", "C", "D", "E"], ["A", "B"]]])
    assert (s.phone_errors, s.phones) == (1, 2)


def test_empty_inputs_and_mismatch():
    s = g2p_scores([], [])
    assert (s.wer, s.per, s.words) == (0.0, 0.0, 0)
    assert exact_match([], []) == 0.0 and bleu([], []) == 0.0 and token_accuracy([], []) == 0.0
    assert free_running_scores([], Vocab.build([["a"]])) == {}
    for score in (g2p_scores, exact_match, bleu, token_accuracy):
        with pytest.raises(ValueError, match="got 1 hypotheses and 0 reference"):
            score([["A"]], [])
    with pytest.raises(ValueError, match="at least one"):
        g2p_scores([["A"]], [[]])


def test_exact_match_is_per_source_against_any_reference():
    hyps = [["T", "OW", "M"], ["K", "AE", "T"], ["D", "AO", "G"]]
    refs = [[["T", "AH", "M"], ["T", "OW", "M"]], [["K", "AE", "T", "S"]], [["D", "AO", "G"]]]
    assert exact_match(hyps, refs) == pytest.approx(200 / 3)
    assert exact_match(hyps, refs) == pytest.approx(100 - word_error_rate(hyps, refs))


def test_token_accuracy_by_hand():
    # 3 of 4 reference positions right in the first pair (the hypothesis stops early), 0 of 2 in the second.
    hyps = [[7, 8, 2], [5, 2]]
    refs = [[7, 8, 9, 2], [6, 9]]
    assert token_accuracy(hyps, refs) == pytest.approx(100 * 2 / 6)
    assert token_accuracy([[7, 8, 9, 2, 4, 4]], [[7, 8, 9, 2]]) == 100.0, "tokens past the reference are not counted"


def test_bleu_is_sacrebleus_corpus_bleu_with_all_references():
    hyps = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "ran", "home"], ["K", "AE", "T"]]
    refs = [
        [["the", "cat", "sat", "on", "a", "mat"], ["a", "cat", "sat", "on", "the", "mat"]],
        [["the", "dog", "ran", "home", "fast"]],
        [["K", "AE", "T"], ["K", "AA", "T"], ["K", "EH", "T"]],
    ]
    streams = [
        ["the cat sat on a mat", "the dog ran home fast", "K AE T"],
        ["a cat sat on the mat", None, "K AA T"],
        [None, None, "K EH T"],
    ]
    expected = sacrebleu.corpus_bleu([" ".join(h) for h in hyps], streams, tokenize="none").score
    assert bleu(hyps, refs) == pytest.approx(expected, abs=1e-8)
    assert 0.0 < bleu(hyps, refs) < 100.0
    assert bleu(hyps[:1], [[hyps[0]]]) == pytest.approx(100.0)


def test_bleu_does_not_retokenize_the_tokens():
    # sacrebleu's default 13a tokenizer would split "<unk>" and "AH0." into several tokens.
    assert bleu([["<unk>", "AH0.", "x", "y"]], [[["<unk>", "AH0.", "x", "y"]]]) == pytest.approx(100.0)
    assert bleu([["<unk>", "b", "c", "d"]], [[["<u", "b", "c", "d"]]]) < 100.0


def test_eval_records_cut_each_hypothesis_at_its_source_budget_and_first_eos():
    budget = length_budget(2)
    assert budget == 14
    source = [[5, 6, PAD_ID], [5, 6, 7]]  # lengths 2 and 3
    never_stops = [8] * 20
    hypotheses = [never_stops, [9, EOS_ID, 9, 9] + [PAD_ID] * 16]
    targets = [[8, EOS_ID, PAD_ID], [9, 9, EOS_ID]]
    first, second = eval_records(source, hypotheses, targets)
    assert first == EvalRecord((5, 6), (8,) * budget, (8, EOS_ID))
    assert second == EvalRecord((5, 6, 7), (9, EOS_ID), (9, 9, EOS_ID))
    with pytest.raises(ValueError, match="same B"):
        eval_records(source, hypotheses[:1], targets)


def test_free_running_scores_group_references_by_source():
    v = Vocab.build([["T", "OW", "M", "AH", "B", "IY", "IH"]])

    def ids(*tokens):
        return (*v.encode(list(tokens)), EOS_ID)

    records = [  # a word with two pronunciations, in two records, and a wrong one
        EvalRecord((5, 6), ids("T", "OW", "M"), ids("T", "AH", "M")),
        EvalRecord((5, 6), ids("T", "OW", "M"), ids("T", "OW", "M")),
        EvalRecord((7,), ids("B", "IY"), ids("B", "IH")),
    ]
    scores = free_running_scores(records, v)
    assert list(scores) == [m for m in EVAL_METRICS if m not in ("loss", "ppl")]
    assert scores["exact_match"] == 50.0 and scores["wer"] == 50.0
    assert scores["per"] == pytest.approx(100 * 1 / 5)  # 0 errors vs "T OW M", 1 vs "B IH"
    assert scores["token_acc"] == pytest.approx(100 * (3 + 4 + 2) / 11)  # <eos> counted
    expected_bleu = bleu([["T", "OW", "M"], ["B", "IY"]], [[["T", "AH", "M"], ["T", "OW", "M"]], [["B", "IH"]]])
    assert scores["bleu"] == pytest.approx(expected_bleu)


def test_group_references_keeps_first_seen_order_and_distinct_references():
    keys, hyps, refs = group_references([(2, "h2", "r"), (1, "h1", "a"), (2, "h2", "s"), (2, "h2", "r")])
    assert (keys, hyps, refs) == ([2, 1], ["h2", "h1"], [["r", "s"], ["a"]])


def test_metric_name_table_spelled_per_side():
    assert EVAL_METRICS == ("loss", "ppl", "token_acc", "exact_match", "bleu", "wer", "per")
    assert TRAIN_METRICS == ("loss", "tf_ratio", "fed_from_model", "tokens_per_s")
    assert [metric_name(m, "test", "lightning") for m in EVAL_METRICS][:2] == ["test/loss", "test/ppl"]
    assert [metric_name(m, "val", "keras") for m in EVAL_METRICS][-1] == "val_per"
    assert metric_name("tf_ratio", "train", "lightning") == "train/tf_ratio"
    assert metric_name("tf_ratio", "train", "keras") == "tf_ratio"
    with pytest.raises(ValueError, match="got 'wer' for stage 'train'"):
        metric_name("wer", "train", "keras")
    with pytest.raises(ValueError, match="side: got 'jax'"):
        metric_name("wer", "val", "jax")
