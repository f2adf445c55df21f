"""The reranking microservice: NIM-, Cohere- and TEI-compatible HTTP APIs over one ragsift reranker.

``create_app(settings)`` builds the FastAPI app (for tests and embedding); ``run(settings)`` serves
it with uvicorn. Settings: :class:`ServiceSettings` (``ServiceSettings.load()`` reads the TOML file,
``RAGSIFT_*``/``RERANKER_*`` variables and explicit arguments). Needs ``pip install 'ragsift[serve]'``.
"""

from __future__ import annotations

from ragsift._lazy import require

for _module in ("fastapi", "prometheus_client"):
    require(_module, extra="serve")

from ragsift.service.app import create_app, run  # noqa: E402
from ragsift.service.settings import ServiceSettings  # noqa: E402

__all__ = ["create_app", "run", "ServiceSettings"]
