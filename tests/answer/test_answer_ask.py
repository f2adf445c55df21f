"""``ragsift ask`` end to end: a real collection (tiny local embedder), a real local LLM server.

The LLM is the chat-completions stub of tests/rerank/stubs_openai.py, a real HTTP server that
answers a grounded-answer prompt by citing the passages that share words with the question and
counts the calls it receives. Nothing of ragsift is patched: the command runs in-process
(``main([...])``) or as the console script.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from rerank.stubs_openai import Fault, OpenAIStub

from ragsift.cli import main

MODEL = "stub-answerer"
KEY = "sk-ask-test-key"
ROWS = [
    {"id": "cats", "title": "Cats", "text": "Cats purr when they are content. Cats sleep most of the day."},
    {"id": "dogs", "title": "Dogs", "text": "Dogs bark at strangers. Dogs love long walks in the park."},
    {"id": "fin", "title": "Finance", "text": "Quarterly earnings rose while the price ratio fell sharply."},
    {"id": "birds", "title": "Birds", "text": "Parrots talk and mimic human voices; crows use tools."},
]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def collection(tmp_path_factory, tiny_st_model) -> Path:
    folder = tmp_path_factory.mktemp("ask")
    src = folder / "docs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    coll = folder / "coll"
    code = main(["index", str(src), "--collection", str(coll), "--embed-model", str(tiny_st_model), "--chunking", "none", "-q"])
    assert code == 0
    return coll


@pytest.fixture
def stub(monkeypatch):
    for var in ("OPENAI_API_KEY", "RAGSIFT_LLM_URL", "RAGSIFT_LLM_MODEL", "RAGSIFT_LLM_TIMEOUT_S"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RAGSIFT_LLM_API_KEY", KEY)
    with OpenAIStub(model=MODEL, api_key=KEY) as server:
        yield server


def ask(capsys, collection, stub, question, *extra):
    return run(capsys, "ask", collection, question, "--llm-url", stub.base_url, "--llm-model", MODEL, *extra)


def ask_json(capsys, collection, stub, question, *extra) -> tuple[int, dict]:
    code, out, err = ask(capsys, collection, stub, question, "--json", *extra)
    assert code in (0, 1), err
    return code, json.loads(out)


@pytest.mark.parametrize("mode", ["bm25", "hybrid", "auto"])
def test_ask_cites_the_retrieved_passages(capsys, collection, stub, mode):
    code, body = ask_json(capsys, collection, stub, "why do dogs bark at strangers", "--mode", mode, "-k", "3")
    assert code == 0 and body["status"] == "answered"
    assert body["validation"]["verdict"] == "pass" and body["suggestions"] is None
    hits = body["hits"]
    assert 1 <= len(hits) <= 3
    dogs = next(i for i, h in enumerate(hits, start=1) if h["doc_id"] == "dogs")
    # the stub cites each passage sharing words with the question: the dogs passage, by its number
    assert f"[{dogs}]" in body["answer"] and body["answer"].startswith("Dogs bark at strangers")
    assert body["citations"] and body["invalid_citations"] == []
    for citation in body["citations"]:
        hit = hits[citation["number"] - 1]
        assert (citation["doc_id"], citation["id"], citation["title"]) == (hit["doc_id"], hit["id"], hit["title"])
    assert {"doc_id": "dogs", "number": dogs} in [{"doc_id": c["doc_id"], "number": c["number"]} for c in body["citations"]]
    assert body["model"] == MODEL and body["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == len(body["answer"].split())
    assert body["timings_ms"]["llm"] > 0 and "validate" in body["timings_ms"]
    assert stub.calls == 1
    # what the LLM was given: the hits, numbered in order, and the question
    prompt = stub.user_prompts()[0]
    for number, hit in enumerate(hits, start=1):
        assert f"[{number}]\nTitle: {hit['title']}\n{hit['text']}" in prompt
    assert "Question: why do dogs bark at strangers" in prompt
    assert stub.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"


def test_a_question_the_collection_cannot_answer_makes_no_llm_call(capsys, collection, stub):
    code, body = ask_json(capsys, collection, stub, "zzqx vvbnm")
    assert code == 1 and body["status"] == "validation_failed"
    assert body["answer"] is None and body["citations"] == []
    assert body["validation"]["verdict"] == "fail"
    assert body["suggestions"] == body["validation"]["suggestions"]
    code, out, _ = ask(capsys, collection, stub, "zzqx vvbnm")
    assert code == 1 and "no LLM was asked" in out and "none of the query's terms" in out
    assert stub.calls == 0


def test_a_misspelt_question_gets_spelling_suggestions_and_no_llm_call(capsys, collection, stub):
    code, body = ask_json(capsys, collection, stub, "dgos brak", "--mode", "bm25")
    assert code == 1 and body["status"] == "validation_failed"
    fixes = {(s["term"], s["suggestion"]) for s in body["suggestions"]["spelling"]}
    assert {("dgos", "dogs"), ("brak", "bark")} <= fixes
    code, out, _ = ask(capsys, collection, stub, "dgos brak", "--mode", "bm25")
    assert code == 1 and "dgos → dogs" in out and "did you mean: dogs bark" in out
    assert stub.calls == 0


def test_citations_of_passages_not_given_are_reported_invalid(capsys, collection, stub):
    stub.fail(Fault(content="Dogs bark at strangers [1]. Parrots talk [7]."))
    code, body = ask_json(capsys, collection, stub, "why do dogs bark", "--mode", "bm25", "-k", "2")
    assert code == 0
    n = len(body["hits"])
    assert [c["number"] for c in body["citations"]] == [1] and body["citations"][0]["doc_id"] == body["hits"][0]["doc_id"]
    assert body["invalid_citations"] == [{"number": 7, "reason": f"no passage [7]: the model was given passages [1] to [{n}]"}]


def test_streamed_human_output_lists_the_sources(capsys, collection, stub):
    code, out, err = ask(capsys, collection, stub, "why do dogs bark at strangers", "--mode", "bm25", "-k", "2")
    assert code == 0, err
    answer, _, sources = out.partition("\nsources:\n")
    assert answer.startswith("Dogs bark at strangers") and "[1]" in answer
    assert "  [1] dogs (chunk " in sources and "— Dogs" in sources
    assert stub.requests[0]["json"]["stream"] is True


def test_ask_runs_as_the_console_script(collection, stub):
    exe = Path(sys.executable).with_name("ragsift")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGSIFT_LLM_URL": stub.base_url, "RAGSIFT_LLM_MODEL": MODEL,
           "RAGSIFT_LLM_API_KEY": KEY}
    proc = subprocess.run([str(exe), "ask", str(collection), "why do dogs bark at strangers", "--mode", "bm25"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Dogs bark at strangers") and "[1] dogs (chunk " in proc.stdout
    assert stub.calls == 1


def test_llm_errors_are_clear(capsys, collection, stub, monkeypatch):
    code, _, err = run(capsys, "ask", collection, "why do dogs bark")
    assert code == 2 and "--llm-url" in err and "RAGSIFT_LLM_URL" in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    code, _, err = run(capsys, "ask", collection, "why do dogs bark", "--llm-url", closed, "--llm-model", MODEL,
                       "--llm-max-retries", "0")
    assert code == 2 and "failed to connect" in err
    monkeypatch.setenv("RAGSIFT_LLM_API_KEY", "sk-wrong-key-9")
    code, _, err = ask(capsys, collection, stub, "why do dogs bark", "--no-stream")
    assert code == 2 and "HTTP 401" in err and "sk-wrong-key-9" not in err
    assert stub.calls == 1  # a wrong key is not retried
