"""Crashes, resumes, bad arguments and unsafe files."""
