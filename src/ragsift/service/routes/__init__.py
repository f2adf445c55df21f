"""HTTP routes, one module per API family.

* :mod:`.nim` — NVIDIA NIM reranking: ``POST /v1/ranking``, ``GET /v1/models``;
* :mod:`.cohere` — Cohere rerank: ``POST /v1/rerank``, ``POST /v2/rerank``;
* :mod:`.tei` — Hugging Face text-embeddings-inference: ``POST /rerank``;
* :mod:`.health` — ``GET /v1/health/live``, ``/v1/health/ready``, ``/health``, ``/v1/metrics``;
* :mod:`.search` — ``POST /v1/search``; :mod:`.documents` — ``POST /v1/documents``,
  ``DELETE /v1/documents/{id}`` (ragsift's own API).

Each module exposes ``router`` (a FastAPI ``APIRouter``).
"""
