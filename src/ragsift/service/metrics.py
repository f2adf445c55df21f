"""Prometheus metrics of one app, on its own :class:`~prometheus_client.CollectorRegistry`.

Every app gets a fresh registry (never the process-global one), so tests and embedders can
build many apps in one process. ``GET /v1/metrics`` renders it in the text exposition format.

======================================  =========  ==============================================
Metric                                  Kind       Labels / meaning
======================================  =========  ==============================================
``ragsift_stage_seconds``               histogram  ``stage``: ``queue`` (wait for the model),
                                                   ``rerank`` (one executor turn), ``retrieve``
                                                   (first stage of ``/v1/search``), ``total``
                                                   (whole request, API routes only)
``ragsift_requests_total``              counter    ``route`` (path template), ``method``, ``status``
``ragsift_batch_pairs``                 histogram  (query, passage) pairs per executor turn
``ragsift_batch_requests``              histogram  requests per executor turn (1 without batching)
``ragsift_queue_depth``                 gauge      requests waiting for the model
``ragsift_model_forward_passes_total``  counter    forward passes (padded batches of pairs) the
                                                   local model ran, warm-up included (0 for
                                                   remote rerankers)
``ragsift_cache_hit_ratio``             gauge      rerank cache hits / lookups (0 without a cache)
``ragsift_cache_hits_total``            counter    rerank cache lookups answered by the cache
``ragsift_cache_misses_total``          counter    rerank cache lookups scored by the model
``ragsift_cache_errors_total``          counter    rerank cache lookups/writes that failed (store
                                                   unreachable: the request was scored uncached)
``ragsift_ready``                       gauge      1 once the model is loaded and warmed up
======================================  =========  ==============================================

A p95 latency alarm (seed 000: alert above 500 ms) is a Prometheus rule on the histogram::

    histogram_quantile(0.95, sum by (le) (rate(ragsift_stage_seconds_bucket{stage="total"}[5m]))) > 0.5
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

__all__ = ["ServiceMetrics", "CONTENT_TYPE", "STAGES"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
STAGES = ("queue", "rerank", "retrieve", "total")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
PAIR_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
REQUEST_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)


class ServiceMetrics:
    """The metrics of one app; ``registry`` is private to it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.stage_seconds = Histogram(
            "ragsift_stage_seconds", "Time spent per stage, in seconds", ["stage"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.requests = Counter(
            "ragsift_requests", "HTTP requests by route and status", ["route", "method", "status"], registry=r
        )
        self.batch_pairs = Histogram(
            "ragsift_batch_pairs", "(query, passage) pairs per model executor turn", buckets=PAIR_BUCKETS, registry=r
        )
        self.batch_requests = Histogram(
            "ragsift_batch_requests", "Requests per model executor turn", buckets=REQUEST_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("ragsift_queue_depth", "Requests waiting for the model", registry=r)
        self.cache_hit_ratio = Gauge("ragsift_cache_hit_ratio", "Rerank cache hits / lookups", registry=r)
        self.cache_hits = _CountFrom("ragsift_cache_hits", "Rerank cache lookups answered by the cache")
        self.cache_misses = _CountFrom("ragsift_cache_misses", "Rerank cache lookups scored by the model")
        self.cache_errors = _CountFrom(
            "ragsift_cache_errors", "Rerank cache lookups and writes that failed (scored without the cache)"
        )
        self.forward_passes = _CountFrom(
            "ragsift_model_forward_passes", "Forward passes (padded batches of pairs) the local model ran"
        )
        for counter in (self.cache_hits, self.cache_misses, self.cache_errors, self.forward_passes):
            r.register(counter)
        self.ready = Gauge("ragsift_ready", "1 when the model is loaded and warmed up", registry=r)

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Record ``seconds`` spent in ``stage`` (one of :data:`STAGES`)."""
        self.stage_seconds.labels(stage=stage).observe(seconds)

    @contextmanager
    def time_stage(self, stage: str) -> Iterator[None]:
        """``with metrics.time_stage("retrieve"): ...`` records the block's duration."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe_stage(stage, time.perf_counter() - start)

    def count_request(self, route: str, method: str, status: int) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()

    def observe_batch(self, pairs: int, requests: int) -> None:
        self.batch_pairs.observe(pairs)
        self.batch_requests.observe(requests)

    def track_cache(self, stats: Callable[[], dict], errors: Callable[[], int] | None = None) -> None:
        """At every scrape, ``ragsift_cache_hit_ratio``/``_hits_total``/``_misses_total`` read
        ``stats()`` and ``ragsift_cache_errors_total`` reads ``errors()`` (a count that only grows)."""
        self.cache_hit_ratio.set_function(lambda: float(stats().get("hit_ratio", 0.0)))
        self.cache_hits.read = lambda: stats().get("hits", 0)
        self.cache_misses.read = lambda: stats().get("misses", 0)
        if errors is not None:
            self.cache_errors.read = errors

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


class _CountFrom(Collector):
    """A counter whose value is read from ``read()`` at scrape time (0 until set)."""

    def __init__(self, name: str, documentation: str):
        self.name = name
        self.documentation = documentation
        self.read: Callable[[], int] = lambda: 0

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=float(self.read()))
