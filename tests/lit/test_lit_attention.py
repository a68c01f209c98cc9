"""Masked, dtype-safe attention (docs/architecture.md, "Masked attention")."""

from __future__ import annotations

import pytest
import torch

from lit_seq2seq import BahdanauAttention, LuongAttention, masked_softmax


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_masked_softmax_ignores_padding_and_keeps_dtype(dtype: torch.dtype) -> None:
    scores = torch.randn(3, 2, 4).to(dtype) * 100
    mask = torch.tensor([[True, True, False, False], [True, True, True, True], [False] * 4])
    w = masked_softmax(scores, mask)
    assert w.dtype == dtype
    assert torch.isfinite(w.float()).all()
    assert (w[0, :, 2:] == 0).all()
    torch.testing.assert_close(w[:2].float().sum(-1), torch.ones(2, 2), atol=1e-2, rtol=0)
    assert (w[2] == 0).all(), "a fully padded row gives zeros, not NaN"


def test_masked_softmax_matches_softmax_over_valid_positions() -> None:
    scores = torch.randn(2, 5)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    w = masked_softmax(scores, mask)
    torch.testing.assert_close(w[0, :3], torch.softmax(scores[0, :3], -1))
    torch.testing.assert_close(w[1], torch.softmax(scores[1], -1))


@pytest.mark.parametrize("score", ["dot", "general"])
def test_luong_matches_the_formula(score: str) -> None:
    torch.manual_seed(0)
    att = LuongAttention(4, score)
    enc, h = torch.randn(1, 3, 4), torch.randn(1, 2, 4)
    mask = torch.tensor([[True, True, False]])
    pre, w = att(h, enc, att.keys(enc), mask)
    keys = enc if score == "dot" else enc @ att.w_a.weight.T  # type: ignore[union-attr]
    s = h[0] @ keys[0, :2].T  # (T, 2)
    expected_w = torch.softmax(s, -1)
    context = expected_w @ enc[0, :2]
    expected_pre = torch.tanh(torch.cat([context, h[0]], -1) @ att.w_c.weight.T)
    torch.testing.assert_close(w[0, :, :2], expected_w)
    torch.testing.assert_close(pre[0], expected_pre)


def test_bahdanau_matches_the_formula() -> None:
    torch.manual_seed(0)
    att = BahdanauAttention(4)
    enc, q = torch.randn(1, 3, 4), torch.randn(1, 4)
    mask = torch.tensor([[True, True, False]])
    context, w = att(q, enc, att.keys(enc), mask)
    s = torch.stack([att.v(torch.tanh(att.w1(enc[0, j]) + att.w2(q[0]))).squeeze() for j in range(2)])
    expected_w = torch.softmax(s, -1)
    torch.testing.assert_close(w[0, :2], expected_w)
    assert w[0, 2] == 0
    torch.testing.assert_close(context[0], expected_w @ enc[0, :2])
