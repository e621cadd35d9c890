"""Loaders for the encoder benchmarks' real on-disk layouts (BENCHMARKS.md sections 1a, 4, 5).

Each loader validates what it reads (counts, pairing, files present) and raises a
``UserError`` that names the file and row at fault. Images are opened lazily, in batches.
"""
