"""HTTP routes, one module per API family.

* :mod:`.nim` — NVIDIA NIM reranking: ``POST /v1/ranking``, ``GET /v1/models``;
* :mod:`.cohere` — Cohere rerank: ``POST /v1/rerank``, ``POST /v2/rerank``;
* :mod:`.tei` — Hugging Face text-embeddings-inference: ``POST /rerank``;
* :mod:`.health` — ``GET /v1/health/live``, ``/v1/health/ready``, ``/health``, ``/v1/metrics``;
* :mod:`.search` — ``POST /v1/search``; :mod:`.documents` — ``POST /v1/documents``,
  ``DELETE /v1/documents/{id}`` (ragsift's own API);
* :mod:`.embeddings` — ``POST /v1/embeddings`` (OpenAI, NIM) and ``POST /embed`` (TEI): vectors from
  the served collection's embedder;
* :mod:`.answer` — ``POST /v1/answer``: a cited answer from the collection and an LLM (JSON or SSE).
* :mod:`.page` — ``GET /``: the search page for people (``/static/page.js``, ``page.css``; not in
  the OpenAPI schema).

Each module exposes ``router`` (a FastAPI ``APIRouter``).
"""
