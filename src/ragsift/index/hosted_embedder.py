"""What the hosted embedders share: batching, request pacing, response checks and normalization.

:class:`HostedEmbedder` implements the :class:`~ragsift.index.embedder.Embedder` protocol over one
HTTP endpoint. Every request goes through :class:`ragsift.http.HttpClient`: explicit timeouts,
retries with backoff on 429/5xx that honour ``Retry-After``, one typed error per outcome
(:class:`~ragsift.errors.RateLimitedError` once the retries are spent) and an injectable
transport. A subclass describes one wire format: :meth:`HostedEmbedder._request` (the JSON body
of one batch) and :meth:`HostedEmbedder._parse` (the rows of one answer, in input order).

Batching and rate limits: texts go ``batch_size`` per request (the vendor's cap at most), one
request at a time; ``requests_per_minute`` spaces the requests so a known quota is never hit
(:class:`RequestPacer`), and a 429 that still comes is retried after the server's ``Retry-After``.

The settings come from the :class:`~ragsift.config.EmbedderSpec` (model, URL, prefixes, input
types, truncation, dimensions, normalization: what the collection records) and from keyword
options that do not change the vectors (key, batch size, pacing, timeouts), whose defaults are the
``RAGSIFT_EMBED_*`` settings read by :mod:`ragsift.config`. Constructing an embedder never
touches the network; ``dim`` is the spec's ``dimensions``, else learned from the first answer
(embedding an empty list before any answer sends one probe text to learn it).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import numpy as np

from ragsift import config
from ragsift.config import EmbedderSpec
from ragsift.errors import BadInputError, ConfigError
from ragsift.http import ContractViolation, HttpClient

__all__ = ["HostedEmbedder", "RequestPacer", "DEFAULT_MAX_SEQ_LENGTH"]

DEFAULT_MAX_SEQ_LENGTH = 512
"""Tokens a hosted model is assumed to read (caps token-sized chunks; the server truncates beyond)."""


class RequestPacer:
    """Starts requests at least ``60 / requests_per_minute`` seconds apart (thread-safe); None: no pacing."""

    def __init__(
        self,
        requests_per_minute: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if requests_per_minute is not None and (
            isinstance(requests_per_minute, bool)
            or not isinstance(requests_per_minute, (int, float))
            or not math.isfinite(requests_per_minute)
            or requests_per_minute <= 0
        ):
            raise ConfigError(
                f"requests_per_minute={requests_per_minute!r} is not valid; use a number > 0 or None (no pacing)"
            )
        self.interval = 0.0 if requests_per_minute is None else 60.0 / float(requests_per_minute)
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until the next request may start; returns the seconds waited."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        waited = start - now
        if waited > 0:
            self._sleep(waited)
        return waited


def _positive_int(value: Any, param: str, cap: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (cap is not None and value > cap):
        allowed = f"an integer in [1, {cap}] (the vendor's per-request cap)" if cap else "a positive integer"
        raise ConfigError(f"{param}={value!r} is not valid; use {allowed}")
    return value


def _option(value: Any, setting: str, default: Any = None) -> Any:
    """The argument, else the setting's variable (``RAGSIFT_EMBED_*``), else ``default``."""
    if value is not None:
        return value
    found = config.get(setting)
    return default if found is None else found


def matrix(rows: Sequence[Any], n: int, where: str) -> np.ndarray:
    """``n`` rows of finite numbers of one length as a float32 matrix, or a ContractViolation."""
    if len(rows) != n:
        raise ContractViolation(f"{len(rows)} {where} for {n} texts; expected one per text")
    width = None
    for i, row in enumerate(rows):
        if not isinstance(row, list) or not row:
            raise ContractViolation(f"{where}[{i}] is {type(row).__name__}, expected a non-empty list of numbers")
        if width is not None and len(row) != width:
            raise ContractViolation(f"{where}[{i}] has {len(row)} numbers, {where}[0] has {width}")
        width = len(row)
        bad = next((x for x in row if isinstance(x, bool) or not isinstance(x, (int, float))), None)
        if bad is not None:
            raise ContractViolation(f"{where}[{i}] holds {bad!r}, not a number")
    out = np.asarray(rows, dtype=np.float32).reshape(n, width or 0)
    if not np.isfinite(out).all():
        raise ContractViolation(f"{where} hold values that are not finite numbers")
    return out


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0.0, 1.0, norms)


class HostedEmbedder:
    """An :class:`~ragsift.index.embedder.Embedder` backed by a hosted embedding API (see the module docstring).

    Options: ``api_key`` (default: ``RAGSIFT_EMBED_API_KEY``, else the vendor's variable),
    ``batch_size`` (texts per request; default ``RAGSIFT_EMBED_BATCH_SIZE``, else the vendor's
    default), ``requests_per_minute`` (pacing; default ``RAGSIFT_EMBED_REQUESTS_PER_MINUTE``),
    ``max_seq_length`` (tokens the model is assumed to read, for chunk sizes), ``timeout`` and
    ``max_retries`` (defaults ``RAGSIFT_EMBED_TIMEOUT`` / ``_MAX_RETRIES``) and any other
    :class:`~ragsift.http.HttpClient` option (``transport``, ``backoff_base``, ``retry_after_max``...).
    """

    provider = "http"
    #: Settings holding the key, first found wins (rows of :data:`ragsift.config.SETTINGS`).
    key_settings: tuple[str, ...] = ("embedder.api_key",)
    #: Hosts that answer only with a key: constructing without one is a ConfigError.
    key_required_hosts: tuple[str, ...] = ()
    default_batch_size = 64
    batch_cap: int | None = None

    def __init__(
        self,
        spec: EmbedderSpec,
        *,
        api_key: str | None = None,
        batch_size: int | None = None,
        requests_per_minute: float | None = None,
        max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
        timeout: float | None = None,
        max_retries: int | None = None,
        **http_options: Any,
    ):
        if not isinstance(spec, EmbedderSpec) or not spec.type.hosted:
            raise ConfigError(f"{type(self).__name__} needs the EmbedderSpec of a hosted embedder, not {spec!r}")
        self.spec = spec
        self.name = str(spec)
        size = _option(batch_size, "embedder.batch_size", self.default_batch_size)
        self.batch_size = _positive_int(size, "batch_size", self.batch_cap)
        self._max_seq_length = _positive_int(max_seq_length, "max_seq_length")
        self.pacer = RequestPacer(_option(requests_per_minute, "embedder.requests_per_minute"))
        key = api_key if api_key is not None else next(filter(None, map(config.get, self.key_settings)), None)
        variables = " or ".join(v for s in self.key_settings for v in config.variables(s))
        limits = {"timeout": _option(timeout, "embedder.timeout"),
                  "max_retries": _option(max_retries, "embedder.max_retries")}
        self._http = HttpClient(
            self.provider,
            self.endpoint(spec.base_url or ""),
            auth=(lambda: {"Authorization": f"Bearer {key}"}) if key else None,
            auth_hint=f"Check the embedding API key (api_key= or env {variables})",
            **{k: v for k, v in limits.items() if v is not None},
            **http_options,
        )
        host = httpx.URL(self._http.base_url).host
        if not key and any(host == h or host.endswith("." + h) for h in self.key_required_hosts):
            raise ConfigError(
                f"the hosted embedding API {self._http.base_url} needs an API key: set {variables} (or pass api_key=)"
            )
        self._dim: int | None = spec.dimensions

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, base_url={self._http.base_url!r})"

    # -- the wire format: subclasses ------------------------------------------------------------

    def endpoint(self, base_url: str) -> str:
        """The URL to POST to for ``base_url``."""
        raise NotImplementedError

    def _request(self, texts: Sequence[str], input_type: str | None) -> dict[str, Any]:
        """The JSON body that embeds ``texts`` (prefixes already applied)."""
        raise NotImplementedError

    def _parse(self, payload: Any, n: int) -> np.ndarray:
        """The ``(n, dim)`` vectors of one answer in input order; ContractViolation on a bad body."""
        raise NotImplementedError

    # -- the Embedder protocol -------------------------------------------------------------------

    def load(self) -> None:
        """Nothing to load: the options were checked by the constructor and no request is made."""

    @property
    def dim(self) -> int:
        """The vectors' dimension: ``spec.dimensions``, else that of the first answer."""
        if self._dim is None:
            from ragsift.index.embedder import EmbedderNotLoadedError

            raise EmbedderNotLoadedError(
                f"the dimension of {self.name} is known after its first answer. Fix: embed a text first, or set "
                "dimensions in the embedder spec"
            )
        return self._dim

    @property
    def max_seq_length(self) -> int:
        return self._max_seq_length

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray:
        """Embed documents (``document_prefix``, ``document_input_type``): float32 ``(n, dim)``."""
        return self._encode(texts, self.spec.document_prefix, self.spec.document_input_type, batch_size, show_progress)

    def encode_queries(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray:
        """Embed queries (``query_prefix``, ``query_input_type``): float32 ``(n, dim)``."""
        return self._encode(texts, self.spec.query_prefix, self.spec.query_input_type, batch_size, show_progress)

    def close(self) -> None:
        """Release pooled connections."""
        self._http.close()

    # -- batching --------------------------------------------------------------------------------

    def _encode(
        self, texts: Sequence[str], prefix: str, input_type: str | None, batch_size: int | None, show_progress: bool
    ) -> np.ndarray:
        from ragsift.index.embedder import check_texts

        texts = check_texts(texts)
        size = self.batch_size if batch_size is None else _positive_int(batch_size, "batch_size", self.batch_cap)
        if not texts:
            if self._dim is None:
                self.encode_queries(["dimension probe"])  # one request: its answer gives the dimension
            return np.zeros((0, self.dim), dtype=np.float32)
        inputs = [prefix + t for t in texts]
        empty = next((i for i, t in enumerate(inputs) if not t.strip()), None)
        if empty is not None:
            raise BadInputError(f"texts[{empty}] is empty; {self.provider} embedding APIs refuse empty input")
        starts = range(0, len(inputs), size)
        if show_progress and len(starts) > 1:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"embedding ({self.provider})", unit="request")
        blocks = []
        for start in starts:
            batch = inputs[start : start + size]
            self.pacer.wait()
            blocks.append(self._http.post_json("", self._request(batch, input_type), parse=self._parser(len(batch))))
        vectors = np.concatenate(blocks)
        vectors = _normalized(vectors) if self.spec.normalize else vectors
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _parser(self, n: int) -> Callable[[Any], np.ndarray]:
        def parse(payload: Any) -> np.ndarray:
            vectors = self._parse(payload, n)
            dim = vectors.shape[1]
            if self._dim is not None and dim != self._dim:
                asked = " (dimensions asked)" if self.spec.dimensions else " (earlier answers)"
                raise ContractViolation(f"vectors have {dim} dimensions, expected {self._dim}{asked}")
            self._dim = dim
            return vectors

        return parse
