"""The cosine-head cross-encoder: its score is w·cos(query tokens, passage tokens) + b, and every loader reads it."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from ragsift.rerank.cosine_head import INIT_SCALE, INIT_SHIFT, MODEL_TYPE, new_cosine_model, register  # noqa: E402
from ragsift.rerank.cross_encoder import CrossEncoderReranker  # noqa: E402

QUERY = "what happens to the volcano"
PASSAGES = ["The volcano erupted last year.", "A glacier melted slowly.", "volcano"]


@pytest.fixture(scope="module")
def encoder_dir(tiny_st_model):
    """The BERT folder inside the tiny sentence-transformers model (config.json + weights at its root)."""
    assert json.loads((tiny_st_model / "config.json").read_text())["model_type"] == "bert"
    return tiny_st_model


@pytest.fixture(scope="module")
def saved(encoder_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cosine-ce")
    model = new_cosine_model(encoder_dir)
    model.save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(encoder_dir).save_pretrained(out)
    return out


def by_hand(encoder_dir, query, passages):
    """The score computed independently: BERT hidden states, per-segment means, cosine, w·x + b at init."""
    tok = transformers.AutoTokenizer.from_pretrained(encoder_dir)
    bert = transformers.BertModel.from_pretrained(encoder_dir).eval()
    out = []
    with torch.no_grad():
        for p in passages:
            enc = tok(query, p, return_tensors="pt")
            h = bert(**enc).last_hidden_state[0]
            tt = enc["token_type_ids"][0]
            q, d = h[tt == 0].mean(0), h[tt == 1].mean(0)
            out.append(INIT_SCALE * float(q @ d / (q.norm() * d.norm())) + INIT_SHIFT)
    return out


def test_untrained_score_is_scaled_segment_cosine(encoder_dir):
    model = new_cosine_model(encoder_dir).eval()
    tok = transformers.AutoTokenizer.from_pretrained(encoder_dir)
    enc = tok([QUERY] * len(PASSAGES), PASSAGES, return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**enc).logits[:, 0].tolist()
    assert logits == pytest.approx(by_hand(encoder_dir, QUERY, PASSAGES), abs=1e-4)


def test_saved_folder_declares_its_own_model_type(saved):
    config = json.loads((saved / "config.json").read_text())
    assert config["model_type"] == MODEL_TYPE
    assert config["architectures"] == ["BertCosineForSequenceClassification"]


def test_cross_encoder_reranker_loads_it_with_the_same_scores(saved, encoder_dir):
    raw = CrossEncoderReranker(str(saved), max_length=64, backend="torch").score(QUERY, PASSAGES).raw
    assert raw == pytest.approx(by_hand(encoder_dir, QUERY, PASSAGES), abs=1e-4)


def test_auto_classes_and_sentence_transformers_load_it_after_register(saved, encoder_dir):
    from sentence_transformers import CrossEncoder

    register()
    register()  # idempotent
    model = transformers.AutoModelForSequenceClassification.from_pretrained(saved).eval()
    assert type(model).__name__ == "BertCosineForSequenceClassification"
    ce = CrossEncoder(str(saved), device="cpu", local_files_only=True)
    got = ce.predict([(QUERY, p) for p in PASSAGES], activation_fn=torch.nn.Identity())
    assert list(got) == pytest.approx(by_hand(encoder_dir, QUERY, PASSAGES), abs=1e-4)


def test_missing_token_type_ids_is_a_clear_error(encoder_dir):
    model = new_cosine_model(encoder_dir)
    with pytest.raises(ValueError, match="token_type_ids"):
        model(input_ids=torch.tensor([[101, 2000, 102]]))


def test_num_layers_keeps_the_first_layers(encoder_dir):
    model = new_cosine_model(encoder_dir, num_layers=1)
    assert len(model.bert.encoder.layer) == 1 and model.config.num_hidden_layers == 1
    full = transformers.BertModel.from_pretrained(encoder_dir)
    assert torch.equal(model.bert.encoder.layer[0].attention.self.query.weight, full.encoder.layer[0].attention.self.query.weight)


@pytest.mark.parametrize("bad", [0, 99, True])
def test_num_layers_out_of_range_is_a_config_error(encoder_dir, bad):
    from ragsift.errors import ConfigError

    with pytest.raises(ConfigError, match=f"num_layers={bad!r} is not valid; the encoder has 2 layers"):
        new_cosine_model(encoder_dir, num_layers=bad)


def test_onnx_backend_tracks_torch(saved, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    want = CrossEncoderReranker(str(saved), max_length=64, backend="torch").score(QUERY, PASSAGES).raw
    got = CrossEncoderReranker(str(saved), max_length=64, backend="onnx", onnx_dir=tmp_path).score(QUERY, PASSAGES).raw
    assert got == pytest.approx(want, abs=1e-4)
