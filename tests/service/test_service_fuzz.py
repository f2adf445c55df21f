"""A deterministic fuzz of the HTTP API: more than 1,000 malformed requests over every endpoint, no 5xx.

The requests come from a seeded :class:`random.Random` (the same ones every run). Each endpoint's
valid body is mutated: a value replaced by a wrong type, an out-of-range or 400-digit number, a
``1e400``/``NaN`` literal, a lone surrogate (escaped, or as raw UTF-8 bytes), a unicode edge case
or a string at the service's limits; a field dropped or added; a node nested deep (also past
1,000 levels); a list grown or emptied. Every endpoint also gets bodies that are empty, not JSON,
not UTF-8, cut short, too large or sent with the wrong content type, and the wrong methods. The
GET endpoints get odd query strings, and ``DELETE /v1/documents/{id}`` odd ids (percent-encoded
bytes, surrogate escapes, very long ones).

Every answer must be below 500, and every error must carry the one JSON error body
(``{"error": {"type", "message"}, "message"}``). After each endpoint's batch, the service must
still answer a normal search and ranking correctly. The service is real: a small collection on
disk, dense so that hybrid search and its fusion options are reached (see :mod:`service.fuzz_kit`).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service.fuzz_kit import MAX_BODY, MAX_PASSAGE, MAX_QUERY, MODEL, build_app
from service.service_kit import wait_ready

SEED = 10
#: Statuses a malformed request may get here: no 401 (no keys), 429/503/504 (one request at a
#: time, nothing slow) nor any 5xx. 307 is FastAPI's redirect of a trailing slash.
ALLOWED = {200, 307, 400, 404, 405, 413, 415, 422}

# ---------------------------------------------------------------------------- valid bodies

TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "/v1/ranking": [
        {
            "model": MODEL,
            "query": {"text": "cats purr"},
            "passages": [{"text": "Cats purr."}, {"text": "Dogs bark."}],
            "truncate": "END",
        }
    ],
    "/v1/rerank": [
        {
            "model": MODEL,
            "query": "cats purr",
            "documents": ["Cats purr.", {"text": "Dogs bark.", "title": "Dogs"}],
            "top_n": 2,
            "rank_fields": ["text", "title"],
            "return_documents": True,
            "max_chunks_per_doc": 1,
            "max_tokens_per_doc": 100,
        }
    ],
    "/v2/rerank": [
        {
            "model": MODEL,
            "query": "cats purr",
            "documents": ["Cats purr.", "Dogs bark."],
            "top_n": 1,
            "max_tokens_per_doc": 50,
            "return_documents": True,
        }
    ],
    "/rerank": [
        {
            "query": "cats purr",
            "texts": ["Cats purr.", "Dogs bark."],
            "truncate": True,
            "truncation_direction": "Right",
            "raw_scores": False,
            "return_text": True,
        }
    ],
    "/v1/search": [
        {
            "query": "cats purr",
            "mode": "hybrid",
            "k": 3,
            "fusion": "weighted",
            "rrf_k": 60,
            "weights": {"bm25": 0.5, "dense": 0.5},
            "normalization": "zscore",
            "filters": {"kind": ["animal", "money"]},
        },
        {
            "query": "cats purr",
            "mode": "bm25",
            "k": 3,
            "rerank": True,
            "candidates": 3,
            "top_n": 2,
            "threshold": 0.1,
            "interpolate": 0.5,
            "filters": {"kind": "animal"},
        },
    ],
    "/v1/documents": [
        {
            "documents": [
                {
                    "id": "fz",
                    "text": "Zebras graze on the savanna.",
                    "title": "Zebra",
                    "metadata": {"kind": "animal", "legs": 4, "tags": ["striped"]},
                }
            ]
        }
    ],
    "/v1/embeddings": [
        {
            "model": "hashing",  # the collection's embedder (fuzz_kit's HashingEmbedder)
            "input": ["cats purr", "Dogs bark."],
            "encoding_format": "float",
            "dimensions": 64,
            "input_type": "query",
            "truncate": "END",
        }
    ],
    "/embed": [
        {
            "inputs": ["cats purr", "Dogs bark."],
            "normalize": True,
            "truncate": True,
            "truncation_direction": "Right",
            "prompt_name": "query",
        }
    ],
}
POST_PATHS = list(TEMPLATES)
GET_PATHS = ["/v1/models", "/v1/health/live", "/v1/health/ready", "/health", "/v1/metrics", "/metrics"]

# ---------------------------------------------------------------------------- odd values


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is: numbers JSON allows but Python cannot hold, or deep nesting."""

    text: str


STRINGS = [
    "",
    " ",
    "\t\n ",
    "\ud800",
    "\udfff",
    "a\udc80b",
    "\ud83d",  # the first half of an emoji
    "\x00",
    "\x1f\x7f",
    "\u202e",
    "\ufeff",
    "\u200b",
    "e\u0301",
    "\U0001d518\U0001d52b\U0001d526",
    "\U0001f642" * 50,
    "\uffff",
    "\U0010ffff",
    "İß\ufb00",
    "日本語のテキスト",
    "نص عربي",
    "x" * (MAX_QUERY - 1),
    "x" * MAX_QUERY,
    "x" * (MAX_QUERY + 1),
    "word " * (MAX_PASSAGE // 5),
    "word " * (MAX_PASSAGE // 5) + "w",
    "y" * 8200,  # over max_document_bytes
    "NONE",
    "END",
    "Left",
    "hybrid",
    "dense",
    "bm25",
    "rrf",
    "minmax",
    "null",
    "0",
    "1e400",
    "\\ud800",
]
NUMBERS = [
    True,
    False,
    0,
    -1,
    1,
    7,
    2**31,
    2**63 - 1,
    2**63,
    -(2**63),
    10**400,
    -(10**400),
    Raw("9" * 5000),  # more digits than Python parses
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1e-400"),
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
    1e308,
    -1e308,
    5e-324,
    -0.0,
    0.5,
    1.5,
    -0.5,
]
CONTAINERS = [None, [], {}, [None], [[]], {"text": None}, {"": ""}, ["x", 1, None], {"text": "t", "x": [1, {}]}]
ODD = STRINGS + NUMBERS + CONTAINERS
EXTRA_KEYS = ["extra", "", "\ud800", "model", "text", "__proto__", "x" * 300, "id"]
DEPTHS = [2, 17, 33, 300, 999, 1001, 3000]

# ---------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Probe:
    """One request of the fuzz."""

    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = "application/json"
    label: str = ""


def encode(value: Any, *, raw_utf8: bool = False) -> bytes:
    """JSON bytes of ``value`` with :class:`Raw` tokens as is; lone surrogates escaped, or (``raw_utf8``) as raw bytes."""
    raws: dict[str, str] = {}

    def swap(v: Any) -> Any:
        if isinstance(v, Raw):
            key = f"\x00raw{len(raws)}\x00"
            raws[key] = v.text
            return key
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value), ensure_ascii=not raw_utf8)
    for key, token in raws.items():
        text = text.replace(json.dumps(key, ensure_ascii=not raw_utf8), token)
    return text.encode("utf-8", "surrogatepass")


def nested(value: Any, depth: int, rng: random.Random) -> Raw:
    """``value`` inside ``depth`` arrays or single-key objects (past what a JSON encoder recurses into)."""
    inner = encode(value).decode("utf-8", "surrogatepass")
    if rng.random() < 0.5:
        return Raw("[" * depth + inner + "]" * depth)
    return Raw('{"a":' * depth + inner + "}" * depth)


Path = tuple[Any, ...]


def paths(value: Any, here: Path = ()) -> Iterator[Path]:
    """Every node of a JSON value, as the keys/indexes leading to it (the root is ``()``)."""
    yield here
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from paths(sub, (*here, key))
    elif isinstance(value, list):
        for n, sub in enumerate(value):
            yield from paths(sub, (*here, n))


def get(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def put(value: Any, path: Path, new: Any) -> Any:
    """A copy of ``value`` with the node at ``path`` replaced by ``new``."""
    if not path:
        return new
    out = copy.deepcopy(value)
    get(out, path[:-1])[path[-1]] = new
    return out


def where(path: Path) -> str:
    return ".".join(str(p) for p in path) or "<body>"


def short(value: Any) -> str:
    text = value.text if isinstance(value, Raw) else value
    return ascii(text)[:40]


def mutate(body: Any, rng: random.Random) -> tuple[Any, str]:
    """One random change to ``body`` and its description."""
    nodes = list(paths(body))
    keyed = [p for p in nodes if p and isinstance(get(body, p[:-1]), dict)]
    dicts = [p for p in nodes if isinstance(get(body, p), dict)]
    lists = [p for p in nodes if isinstance(get(body, p), list)]
    strings = [p for p in nodes if isinstance(get(body, p), str)]
    kind = rng.choice(["replace", "replace", "replace", "text", "text", "drop", "extra", "nest", "grow"])
    if kind == "text" and strings:
        path, new = rng.choice(strings), rng.choice(STRINGS)
        return put(body, path, new), f"{where(path)}={short(new)}"
    if kind == "drop" and keyed:
        path = rng.choice(keyed)
        out = copy.deepcopy(body)
        del get(out, path[:-1])[path[-1]]
        return out, f"drop {where(path)}"
    if kind == "extra" and dicts:
        path, key, new = rng.choice(dicts), rng.choice(EXTRA_KEYS), rng.choice(ODD)
        return put(body, (*path, key), new), f"{where(path)}[{short(key)}]={short(new)}"
    if kind == "nest":
        path, depth = rng.choice(nodes), rng.choice(DEPTHS)
        return put(body, path, nested(get(body, path), depth, rng)), f"{where(path)} nested {depth} deep"
    if kind == "grow" and lists:
        path = rng.choice(lists)
        times = rng.choice([0, 5, 9, 300])
        return put(body, path, get(body, path) * times), f"{where(path)} x{times}"
    path, new = rng.choice(nodes), rng.choice(ODD)
    return put(body, path, new), f"{where(path)}={short(new)}"


def random_probes(path: str, rng: random.Random, count: int) -> list[Probe]:
    """``count`` requests with 1–3 random mutations of the endpoint's valid bodies."""
    out = []
    for n in range(count):
        body = copy.deepcopy(rng.choice(TEMPLATES[path]))
        if path == "/v1/documents":
            body["documents"][0]["id"] = f"fz-{n}"
        changes = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            body, change = mutate(body, rng)
            changes.append(change)
        raw = rng.random() < 0.2  # lone surrogates as raw (CESU-8) bytes instead of escapes
        out.append(Probe("POST", path, encode(body, raw_utf8=raw), label=f"{path} #{n}: {'; '.join(changes)}"))
    return out


def surrogate_probes(path: str) -> list[Probe]:
    """A lone surrogate in each string field (and each key) of each valid body, escaped and as raw bytes."""
    out = []
    for t, template in enumerate(TEMPLATES[path]):
        for node in paths(template):
            value = get(template, node)
            if isinstance(value, str):
                body = put(template, node, value[:3] + "\ud800" + value[3:])
            elif isinstance(value, dict):
                body = put(template, node, {**value, "k\udfff": "v"})
            else:
                continue
            for raw in (False, True):
                out.append(Probe("POST", path, encode(body, raw_utf8=raw), label=f"{path}[{t}] surrogate in {where(node)}"))
    return out


def body_probes(path: str) -> list[Probe]:
    """Bodies that are not the endpoint's JSON at all, and its JSON sent the wrong way."""
    valid = encode(TEMPLATES[path][0])
    first_string = next(p for p in paths(TEMPLATES[path][0]) if isinstance(get(TEMPLATES[path][0], p), str))
    invalid = json.dumps(put(TEMPLATES[path][0], first_string, "a\ud800"), ensure_ascii=False)
    bodies: list[tuple[bytes, str | None, str]] = [
        (b"", "application/json", "empty body"),
        (b"", None, "empty body without content type"),
        (b"null", "application/json", "null"),
        (b"0", "application/json", "a number"),
        (b'"text"', "application/json", "a string"),
        (b"[]", "application/json", "an array"),
        (b"{}", "application/json", "an empty object"),
        (b"{", "application/json", "an unclosed object"),
        (valid[: len(valid) // 2], "application/json", "cut in half"),
        (valid + b"garbage", "application/json", "trailing garbage"),
        (valid[:-1] + b',"query":"again","query":"twice"}', "application/json", "duplicate keys"),
        (b"not json at all", "application/json", "plain text"),
        (b"\xff\xfe\xfd", "application/json", "not UTF-8"),
        (valid.replace(b'"', b'"\xff', 1), "application/json", "an invalid UTF-8 byte in a key"),
        (valid.replace(b': "', b': "\xc0\xaf', 1), "application/json", "an overlong UTF-8 sequence"),
        (b"\xef\xbb\xbf" + valid, "application/json", "a byte-order mark"),
        (valid.decode().encode("utf-16"), "application/json", "UTF-16"),
        (invalid.encode("utf-16-le", "surrogatepass"), "application/json", "UTF-16 with a lone surrogate"),
        (invalid.encode("utf-32-be", "surrogatepass"), "application/json", "UTF-32 with a lone surrogate"),
        (json.dumps(json.loads(invalid)).encode("utf-16"), "application/json", "UTF-16 with a surrogate escape"),
        (b"[" * 1001 + b"]" * 1001, "application/json", "arrays 1,001 deep"),
        (b'{"a":' * 1200 + b"1" + b"}" * 1200, "application/json", "objects 1,200 deep"),
        (b"[" * 20000, "application/json", "20,000 unclosed arrays"),
        (b"<xml/>", "application/xml", "XML"),
        (valid, "text/plain", "JSON as text/plain"),
        (valid, "application/x-www-form-urlencoded", "JSON as a form"),
        (b"query=cats&model=x", "application/x-www-form-urlencoded", "a form"),
        (b'--b\r\nContent-Disposition: form-data; name="query"\r\n\r\ncats\r\n--b--\r\n',
         "multipart/form-data; boundary=b", "multipart"),
        (valid, "application/json; charset=latin-1", "a latin-1 charset"),
        (valid, "application/problem+json", "a +json type"),
        (valid, None, "no content type"),
        (valid + b" " * (MAX_BODY - len(valid)), "application/json", "exactly max_body_bytes"),
        (valid + b" " * (MAX_BODY - len(valid) + 1), "application/json", "one byte over max_body_bytes"),
        (b'{"x":"' + b"x" * (4 * MAX_BODY) + b'"}', "application/json", "four times max_body_bytes"),
    ]
    out = [Probe("POST", path, body, ctype, f"{path}: {label}") for body, ctype, label in bodies]
    out += [Probe(method, path, valid, label=f"{method} {path}") for method in ("GET", "PUT", "PATCH", "DELETE")]
    return out


def get_probes(rng: random.Random) -> list[Probe]:
    """The GET endpoints with odd query strings, bodies and methods, and paths that do not exist."""
    queries = ["", "?x=1", "?%ff=%fe", "?a=" + "b" * 5000, "?model=%ED%A0%80", "?&&==", "?k=1e400"]
    out = []
    for path in GET_PATHS:
        out += [Probe("GET", path + q, None, None, f"GET {path}{q[:20]}") for q in queries]
        out.append(Probe("GET", path, b'{"x": 1}', label=f"GET {path} with a body"))
        out.append(Probe("GET", path, b"\xff" * 10, "application/octet-stream", f"GET {path} with bytes"))
        out += [Probe(m, path, b"{}", label=f"{m} {path}") for m in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS")]
    odd = ["/v2", "/v1/ranking/x", "/%ff", "/v1/" + "a" * 3000, "/v1/search/", "//v1/search", "/v1/documents",
           "/V1/SEARCH", "/v1/models/%ED%A0%80", "/\\ud800", "/v1/health", "/v1/../v1/models"]
    out += [Probe(rng.choice(["GET", "POST"]), p, b"{}", label=f"unknown {p[:30]}") for p in odd]
    return out


def delete_probes(rng: random.Random) -> list[Probe]:
    """``DELETE /v1/documents/{id}`` with ids that are odd, encoded, long, or not text."""
    ids = [
        "", "%00", "%ED%A0%80", "%ED%BF%BF", "%ff", "%C0%AF", "%2F", "%2e%2e/%2e%2e", "..", ".",
        "../../etc/passwd", "x/../y", "%F0%9F%99%82", "%E2%80%AE", "%EF%BB%BF", "%25", "%", "%zz", "%%",
        "a%20b", "%20", "%09", "+", "%5Cud800", "\\ud800", "%5C%75%64%38%30%30", "null", "undefined", "0", "-1",
        "1e400", "9" * 400, "{}", "[]", "?x=1", "#frag", "%3F", "a" * 511, "a" * 512, "a" * 513, "a" * 5000,
        "a" * 20000, "%41" * 3000, "é", "日本", "\u202e", "does-not-exist", "fz-unknown/with/slashes",
    ]
    out = [Probe("DELETE", f"/v1/documents/{i}", None, None, f"DELETE id {i[:30]!r}") for i in ids]
    for n in range(30):  # random percent-encoded bytes
        raw = bytes(rng.randrange(256) for _ in range(rng.choice([1, 2, 3, 8, 40])))
        encoded = "".join(f"%{b:02X}" for b in raw)
        out.append(Probe("DELETE", f"/v1/documents/{encoded}", None, None, f"DELETE random bytes #{n}"))
    out.append(Probe("DELETE", "/v1/documents/nope", b'{"documents": []}', label="DELETE with a body"))
    out.append(Probe("DELETE", "/v1/documents", None, None, "DELETE without an id"))
    out += [Probe(m, "/v1/documents/nope", b"{}", label=f"{m} on a document") for m in ("GET", "PUT", "PATCH")]
    return out


#: Bodies that answered 500 before the fixes of issue 10, sent on every run (raw: surrogates as raw bytes).
KNOWN: dict[str, list[tuple[dict[str, Any], bool]]] = {
    "/v1/search": [
        *(({"query": "cats", "fusion": f, "weights": {"bm25": 1e308, "dense": 1e308}}, False)
          for f in ("weighted", "combsum", "combmnz")),
        ({"query": "cats", "fusion": "rrf", "rrf_k": 0, "weights": {"bm25": 1e308, "dense": 1e308}}, False),
        ({"query": "cats", "rrf_k": 10**400}, False),
        ({"query": "cats\ud800", "mode": "bm25"}, True),
    ],
    "/v1/rerank": [
        ({"query": "cats", "documents": [{"text": "a", "x": Raw("[" * 400 + "]" * 400)}], "return_documents": True},
         False),
        ({"query": "cats", "documents": [{"text": "a\ud800"}], "return_documents": True}, True),
    ],
    "/v2/rerank": [({"model": MODEL, "query": "cats", "documents": ["a\ud800"], "return_documents": True}, True)],
    "/rerank": [({"query": "cats", "texts": ["a\ud800"], "return_text": True}, True)],
    "/v1/ranking": [({"model": MODEL, "query": {"text": "a\ud800"}, "passages": [{"text": "b"}]}, True)],
    "/v1/documents": [({"documents": [{"id": "fz-known", "text": "t", "metadata": {"a": Raw("[" * 400 + "]" * 400)}}]},
                       False)],
}


def known_probes(path: str) -> list[Probe]:
    return [
        Probe("POST", path, encode(body, raw_utf8=raw), label=f"{path} known #{n}")
        for n, (body, raw) in enumerate(KNOWN.get(path, []))
    ]


RANDOM_PER_ENDPOINT = {path: 150 for path in POST_PATHS}
RANDOM_PER_ENDPOINT["/v1/documents"] = 100  # accepted ones are real commits: slower


def probes_for(name: str) -> list[Probe]:
    """The requests of one fuzz batch (an endpoint path, ``GET`` or ``DELETE``); the same every run."""
    rng = random.Random(f"{SEED}:{name}")
    if name == "GET":
        return get_probes(rng)
    if name == "DELETE":
        return delete_probes(rng)
    return (
        known_probes(name)
        + random_probes(name, rng, RANDOM_PER_ENDPOINT[name])
        + surrogate_probes(name)
        + body_probes(name)
    )


BATCHES = [*POST_PATHS, "DELETE", "GET"]

# ---------------------------------------------------------------------------- checks


def send(client: TestClient, probe: Probe):
    headers = {} if probe.content_type is None else {"content-type": probe.content_type}
    return client.request(probe.method, probe.path, content=probe.body, headers=headers)


def problem(probe: Probe, response) -> str | None:
    """What is wrong with the answer to ``probe``, or None."""
    status = response.status_code
    said = f"{probe.label}: {status} {response.text[:200]!r}"
    if status not in ALLOWED:
        return f"unexpected status: {said}"
    if status == 200 and "json" in response.headers.get("content-type", ""):
        try:
            json.loads(response.text, parse_constant=_reject)
        except ValueError:
            return f"200 without strict JSON: {said}"
    if status < 400:
        return None
    if not response.headers.get("content-type", "").startswith("application/json"):
        return f"error without a JSON body: {said}"
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    if not (
        isinstance(error, dict)
        and isinstance(error.get("type"), str)
        and isinstance(error.get("message"), str)
        and body.get("message") == error["message"]
    ):
        return f"error body not {{error: {{type, message}}, message}}: {said}"
    return None


def _reject(token: str) -> None:
    raise ValueError(f"{token} is not JSON")


def assert_still_serves(client: TestClient) -> None:
    search = client.post("/v1/search", json={"query": "cats purr", "mode": "bm25", "k": 1})
    assert search.status_code == 200, search.text
    assert [h["doc_id"] for h in search.json()["hits"]] == ["cats"]
    hybrid = client.post("/v1/search", json={"query": "quarterly earnings", "k": 3, "filters": {"kind": "money"}})
    assert hybrid.status_code == 200, hybrid.text
    assert [h["doc_id"] for h in hybrid.json()["hits"]] == ["fin"]
    ranking = client.post(
        "/v1/ranking",
        json={"model": MODEL, "query": {"text": "dogs bark"}, "passages": [{"text": "cats"}, {"text": "dogs bark"}]},
    )
    assert ranking.status_code == 200, ranking.text
    assert [r["index"] for r in ranking.json()["rankings"]] == [1, 0]
    assert client.get("/v1/health/ready").status_code == 200


# ---------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    app = build_app(tmp_path_factory.mktemp("fuzz"))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        wait_ready(client)
        yield client


def test_the_fuzz_sends_over_1000_requests_across_all_endpoints():
    counts = {name: len(probes_for(name)) for name in BATCHES}
    assert sum(counts.values()) >= 1000, counts
    assert min(counts.values()) >= 80, counts
    assert probes_for("/v1/search") == probes_for("/v1/search")  # deterministic


@pytest.mark.parametrize("name", BATCHES)
def test_malformed_requests_get_4xx_with_the_error_body(client, name):
    problems = [p for probe in probes_for(name) if (p := problem(probe, send(client, probe)))]
    assert not problems, f"{len(problems)} bad answers, first ones:\n" + "\n".join(problems[:15])
    assert_still_serves(client)


@pytest.mark.parametrize(
    "path, body, type_, words",
    [
        ("/rerank", b'{"query": "a", "texts": ["b\xed\xa0\x80"], "return_text": true}', "bad_request",
         ["texts[0]", "surrogate"]),
        ("/rerank", '{"query": "a", "texts": ["b\ud800"]}'.encode("utf-16-le", "surrogatepass"), "bad_request",
         ["texts[0]", "surrogate"]),
        ("/v1/search", b'{"query": "cats", "fusion": "weighted", "weights": {"bm25": 1e308, "dense": 1e308}}',
         "bad_request", ["weights['bm25']=1e+308", "relative"]),
        ("/v1/rerank", b'{"query": "a", "documents": [{"text": "b", "x": ' + b"[" * 400 + b"]" * 400 + b"}]}",
         "bad_request", ["documents[0]", "nested more than 32 levels"]),
        ("/v1/search", b"[" * 5000 + b"]" * 5000, "malformed_json", ["nested too deeply"]),
        ("/v1/search", b'{"query": "\xff"}', "malformed_json", ["not valid UTF-8", "byte 11"]),
        ("/v1/search", b'{"query": "a", "k": ' + b"9" * 5000 + b"}", "malformed_json", ["thousands of digits"]),
    ],
    ids=["raw surrogate", "UTF-16 surrogate", "huge weights", "deep document", "deep body", "not UTF-8", "5000 digits"],
)
def test_bodies_that_answered_500_or_a_vague_400_name_the_problem(client, path, body, type_, words):
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == type_
    for word in words:
        assert word in error["message"], error["message"]
