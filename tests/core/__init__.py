"""Tests of the framework-free core (``seq2seq_fit``)."""
