"""Pure scorers for the encoder benchmarks: functions over embeddings and similarities.

Nothing here loads data or runs a model, so every metric is testable on hand-made numbers.
"""
