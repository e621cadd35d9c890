"""Prometheus metrics of the HTTP layer (requests by route and status, latency, batch sizes).

Uses ``prometheus_client``'s default registry, which BentoML's ``/metrics`` also exports
(in its multiprocess mode); the standalone app serves ``/metrics`` itself.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("openeyes_requests_total", "HTTP requests answered", ["route", "status"])
LATENCY = Histogram("openeyes_request_seconds", "HTTP request latency", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
ITEMS = Counter("openeyes_items_total", "images, texts and generations processed", ["kind"])
BATCH_SIZE = Histogram("openeyes_batch_size", "items per model call of each micro-batcher", ["batcher"],
                       buckets=(1, 2, 4, 8, 16, 32, 64))
