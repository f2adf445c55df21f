"""The LLM judge (faithfulness, answer relevancy) against a local OpenAI-compatible stub server."""

from __future__ import annotations

import json

import numpy as np
import pytest
from eval_judge_stub import JudgeStub, first_sentence

from ragsift.errors import ConfigError, RemoteTimeoutError
from ragsift.eval.judge import JudgeConfig, JudgeItem, LLMJudge, extract_json, parse_questions, parse_statements

VOCAB = ["magma", "lava", "volcanoes", "erupts", "roses", "tulips", "gardens", "grow", "which", "what", "from"]


def bow(texts: list[str]) -> np.ndarray:
    """Bag-of-words vectors over VOCAB (a deterministic stand-in for an embedding model)."""
    return np.array([[t.lower().count(w) for w in VOCAB] for t in texts], dtype=float)


def cosine(a: str, b: str) -> float:
    x, y = bow([a, b])
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


ITEMS = [
    JudgeItem("q1", "What erupts from volcanoes?", ["Magma erupts from volcanoes as lava. It cools into rock.", "Other text."]),
    JudgeItem("q2", "Which gardens grow roses?", ["Roses and tulips grow in gardens. They bloom in spring."]),
    JudgeItem("q3", "What is lava?", ["Lava is molten magma. It flows downhill."]),
]


def judge_for(stub: JudgeStub, **overrides) -> LLMJudge:
    config = JudgeConfig(base_url=stub.base_url, model="judge", **{"concurrency": 2, "timeout": 5.0, **overrides})
    return LLMJudge(config, bow)


def test_happy_path_scores_every_query():
    with JudgeStub() as stub:
        report = judge_for(stub).evaluate(ITEMS)
    assert report.queries == 3 and report.errors == 0
    assert report.judged == {"faithfulness": 3, "answer_relevancy": 3}
    assert report.malformed == {"faithfulness": 0, "answer_relevancy": 0}
    # The stub answers with the first sentence of passage [1]: every statement is supported.
    assert report.faithfulness == pytest.approx(1.0)
    # It "generates" the answer itself as the questions: relevancy = cos(question, answer).
    expected = np.mean([cosine(i.question, first_sentence(i.contexts[0])) for i in ITEMS])
    assert report.answer_relevancy == pytest.approx(expected)
    answers = {d["qid"]: d["answer"] for d in report.details}
    assert answers["q2"] == "Roses and tulips grow in gardens."
    assert len(stub.requests) == 9  # answer + faithfulness + relevancy per query
    assert 1 <= stub.max_in_flight <= 2 * 2  # at most `concurrency` queries, two judge calls each


def test_malformed_answers_are_counted_not_scored():
    with JudgeStub(mode="malformed") as stub:
        report = judge_for(stub).evaluate(ITEMS)
    assert report.faithfulness is None and report.answer_relevancy is None
    assert report.malformed == {"faithfulness": 3, "answer_relevancy": 3}
    assert report.errors == 0
    assert all(d["answer"] for d in report.details)  # the answers themselves were fine


def test_timeout_skips_or_raises_by_configuration():
    with JudgeStub(delay=1.0) as stub:
        report = judge_for(stub, timeout=0.2, max_retries=0).evaluate(ITEMS[:2])
        assert report.errors == 2 and report.faithfulness is None
        assert all("RemoteTimeoutError" in d["error"] for d in report.details)
        with pytest.raises(RemoteTimeoutError, match="timeout"):
            judge_for(stub, timeout=0.2, max_retries=0, on_error="raise").evaluate(ITEMS[:1])


def test_extract_json_finds_objects_in_prose_fences_and_think_blocks():
    nested = 'Sure. {"statements": [{"statement": "a", "supported": true}, {"statement": "b", "supported": "no"}]} Done.'
    assert parse_statements(nested) == [True, False]
    assert extract_json("<think>{not json}</think>```json\n{\"x\": 1}\n```") == {"x": 1}
    assert parse_questions('{"questions": ["q?", " "], "noncommittal": "yes"}') == (["q?"], True)
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("nothing here")


def test_judge_config_is_validated():
    with pytest.raises(ConfigError, match="base_url"):
        JudgeConfig(base_url="localhost:8000", model="m")
    with pytest.raises(ConfigError, match="on_error"):
        JudgeConfig(base_url="http://x/v1", model="m", on_error="ignore")
    with pytest.raises(ConfigError, match="nothing to judge"):
        LLMJudge(JudgeConfig(base_url="http://x/v1", model="m"), bow).evaluate([])


def test_run_eval_judges_the_baseline_and_the_best_run(tmp_path, tiny_st_model):
    from test_eval_grid import make_beir

    from ragsift.eval.report import load_results
    from ragsift.eval.runner import EvalConfig, run_eval

    data = make_beir(tmp_path / "beir")
    with JudgeStub() as stub:
        results = run_eval(EvalConfig(
            data_dir=data, out_dir=tmp_path / "out", retrievers=["bm25", "dense"], embed_model=str(tiny_st_model),
            show_progress=False, judge=JudgeConfig(base_url=stub.base_url, model="judge", contexts=2),
        ))
    judged = results["judge"]["runs"]
    assert judged[0] == "bm25:none" and len(judged) in (1, 2)
    saved = load_results(tmp_path / "out" / "results.json")
    for run in saved["runs"]:
        key = f"{run['retriever']}:{run['reranker']}"
        assert ("faithfulness" in run["rag"]) == (key in judged)
    lines = [json.loads(x) for x in (tmp_path / "out" / "judge.jsonl").read_text().splitlines()]
    assert {line["run"] for line in lines} == set(judged)
    assert "Faithfulness and answer relevancy" in (tmp_path / "out" / "results.md").read_text()
