"""Encoder benchmarks: MMVP-VLM, zero-shot classification, retrieval, clustering, affinity."""
