"""Encoder runtimes: one protocol (``Encoder``), two backends (transformers, open_clip)."""
