"""The encoder reads only the valid part of each row (packed), in both directions."""

from __future__ import annotations

import pytest
import torch

from lit_seq2seq import Encoder


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_the_encoding(cell: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    enc = Encoder(10, 6, 8, num_layers=2, cell=cell, bidirectional=bidirectional).eval()
    row = torch.tensor([[4, 5, 6]])
    padded = torch.tensor([[4, 5, 6, 0, 0], [7, 8, 9, 4, 5]])
    out_alone, summary_alone = enc(row, torch.tensor([3]))
    out_padded, summary_padded = enc(padded, torch.tensor([3, 5]))
    torch.testing.assert_close(out_padded[0, :3], out_alone[0])
    torch.testing.assert_close(summary_padded[0], summary_alone[0])
    assert (out_padded[0, 3:] == 0).all()
    assert out_padded.shape == (2, 5, 8) and summary_padded.shape == (2, 8)


def test_summary_is_the_final_state_of_each_direction() -> None:
    torch.manual_seed(0)
    enc = Encoder(10, 6, 8, bidirectional=True).eval()
    out, summary = enc(torch.tensor([[4, 5, 6, 0]]), torch.tensor([3]))
    torch.testing.assert_close(summary[0, :4], out[0, 2, :4])  # forward at len - 1
    torch.testing.assert_close(summary[0, 4:], out[0, 0, 4:])  # backward at 0


def test_fully_padded_row_runs_and_lengths_default_to_non_pad() -> None:
    enc = Encoder(10, 6, 8, bidirectional=True).eval()
    source = torch.tensor([[4, 5, 0], [0, 0, 0]])
    out, summary = enc(source)
    out2, _ = enc(source, torch.tensor([2, 0]))
    assert torch.isfinite(out).all() and torch.isfinite(summary).all()
    assert (out[1] == 0).all()
    torch.testing.assert_close(out, out2)
