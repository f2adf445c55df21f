"""The learned query policy: a router, a rerank gate and a result validator, saved as one JSON file.

``ragsift train-router`` fits three small logistic models over :mod:`ragsift.query.features` on a
training split (:mod:`ragsift.query.training`) and writes them to ``COLL/query_policy.json``
(:data:`POLICY_FILE`), beside the collection's manifest, where every search of the collection
finds it. Applying a model is a dot product and a sigmoid: no scikit-learn at query time.

- **router** (``--mode auto``): ``P(BM25 alone ranks as well as hybrid)`` from the query and the
  BM25 run; above ``thresholds["bm25"]`` the query takes the BM25 route (no query embedding),
  else ``P(dense alone ...)`` above ``thresholds["dense"]`` takes dense, else hybrid.
- **gate** (``--rerank auto``): ``P(reranking improves this query)`` from the query and the first
  stage's confidence (score gaps, BM25/dense agreement); rerank when it reaches ``threshold``.
- **validator**: ``P(no relevant passage in the top 5)``; ``fail`` when it reaches ``threshold``,
  chosen on the training split for a target precision of "fail".

A collection without a policy routes by the rules (:mod:`ragsift.query.analysis`), reranks every
query under ``--rerank auto`` and fails validation only when no query term is in the collection.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ragsift.errors import ConfigError
from ragsift.files import atomic_write_text

__all__ = ["POLICY_FILE", "LinearModel", "QueryPolicy", "Router", "Gate", "Validator", "load_policy"]

POLICY_FILE = "query_policy.json"
FORMAT = "ragsift-query-policy"


@dataclass
class LinearModel:
    """A standardized logistic model: ``sigmoid(intercept + sum(coef_i * (x_i - mean_i) / scale_i))``."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    def probability(self, values: Mapping[str, float]) -> float:
        z = self.intercept
        for name, m, s, c in zip(self.features, self.mean, self.scale, self.coef):
            z += c * (float(values.get(name, 0.0)) - m) / (s or 1.0)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LinearModel":
        return cls(list(data["features"]), [float(x) for x in data["mean"]], [float(x) for x in data["scale"]],
                   [float(x) for x in data["coef"]], float(data["intercept"]))


@dataclass
class Router:
    models: dict[str, LinearModel]  # "bm25", "dense": P(route alone >= hybrid)
    thresholds: dict[str, float]  # a route is taken at or above its threshold (> 1: never)
    report: dict = field(default_factory=dict)

    def route(self, values: Mapping[str, float], has_dense: bool) -> tuple[str, dict[str, float]]:
        probs = {name: model.probability(values) for name, model in self.models.items()}
        if not has_dense:
            return "bm25", probs
        for name in ("bm25", "dense"):
            if name in probs and probs[name] >= self.thresholds.get(name, 2.0):
                return name, probs
        return "hybrid", probs


@dataclass
class Gate:
    model: LinearModel
    threshold: float
    report: dict = field(default_factory=dict)


@dataclass
class Validator:
    model: LinearModel
    threshold: float
    target_precision: float
    report: dict = field(default_factory=dict)


@dataclass
class QueryPolicy:
    router: Router | None = None
    gate: Gate | None = None
    validator: Validator | None = None
    trained_on: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": 1, "trained_on": self.trained_on,
                "router": asdict(self.router) if self.router else None,
                "gate": asdict(self.gate) if self.gate else None,
                "validator": asdict(self.validator) if self.validator else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "policy") -> "QueryPolicy":
        if data.get("format") != FORMAT:
            raise ConfigError(f"{source} is not a ragsift query policy (format {data.get('format')!r}); "
                              "write one with `ragsift train-router`")
        try:
            router = gate = validator = None
            if data.get("router"):
                r = data["router"]
                router = Router({k: LinearModel.from_dict(v) for k, v in r["models"].items()},
                                {k: float(v) for k, v in r["thresholds"].items()}, r.get("report", {}))
            if data.get("gate"):
                g = data["gate"]
                gate = Gate(LinearModel.from_dict(g["model"]), float(g["threshold"]), g.get("report", {}))
            if data.get("validator"):
                v = data["validator"]
                validator = Validator(LinearModel.from_dict(v["model"]), float(v["threshold"]),
                                      float(v["target_precision"]), v.get("report", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source} is damaged ({exc!r}); retrain with `ragsift train-router`") from exc
        return cls(router, gate, validator, dict(data.get("trained_on") or {}))

    def save(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        if p.is_dir():
            p = p / POLICY_FILE
        atomic_write_text(p, json.dumps(self.to_dict(), indent=1) + "\n")
        return p


def load_policy(path: str | os.PathLike) -> QueryPolicy | None:
    """The policy at ``path`` (a file, or a collection directory holding :data:`POLICY_FILE`); None when absent."""
    p = Path(path)
    if p.is_dir():
        p = p / POLICY_FILE
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the query policy {p}: {exc}") from exc
    return QueryPolicy.from_dict(data, str(p))
