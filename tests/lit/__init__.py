"""Tests of the Lightning side (``lit_seq2seq``)."""
