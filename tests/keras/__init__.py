"""Tests of the Keras side (``keras_seq2seq``)."""
