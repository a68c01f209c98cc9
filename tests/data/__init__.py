"""Tests of the data layer (``datamodules``)."""
