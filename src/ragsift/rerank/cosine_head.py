"""A cross-encoder whose score is the cosine of the query's and the passage's mean-pooled tokens.

``BertForSequenceClassification`` scores a pair from the ``[CLS]`` vector through the pooler. A
bi-encoder such as all-MiniLM-L6-v2 was trained with *mean pooling*, so a new ``[CLS]`` head
starts from no signal at all (on SciFact, a linear probe of the joint encoding picks the positive
of a 1+3 group 40% of the time). This head reuses what the encoder already knows instead: it
encodes ``[CLS] query [SEP] passage [SEP]`` jointly (every token attends to both texts, as in any
cross-encoder), mean-pools the query segment (``token_type_ids == 0``) and the passage segment
(``token_type_ids == 1``) separately, and scores ``w · cos(q, p) + b``. Untrained, it already
picks the positive 70% of the time (bi-encoder cosine: 85%); training then starts from there.

The model type is ``ragsift-cosine-bert`` so that tools unaware of it fail loudly instead of
adding a random ``[CLS]`` head. :func:`register` makes ``AutoConfig`` /
``AutoModelForSequenceClassification`` (and so sentence-transformers' ``CrossEncoder``) load it;
:func:`~ragsift.rerank.cross_encoder.load_cross_encoder` calls it. ``classifier`` is a
``Linear(1, 1)`` (``w``, ``b``), so calibration folds into it like into any single-logit head.
"""

from __future__ import annotations

from typing import Any

from ragsift._lazy import require
from ragsift.errors import ConfigError

__all__ = ["MODEL_TYPE", "register", "new_cosine_model"]

MODEL_TYPE = "ragsift-cosine-bert"
INIT_SCALE = 20.0  # w at start: cosines span ~[-0.2, 0.9]; x20 gives a softmax that can pick a positive
INIT_SHIFT = -10.0  # b at start: sigmoid(20·cos − 10) is 0.5 at cos = 0.5

_CLASSES: dict[str, Any] = {}


def _classes() -> tuple[Any, Any]:
    """Define (once) the config and model classes; they subclass transformers' BERT, imported lazily."""
    if _CLASSES:
        return _CLASSES["config"], _CLASSES["model"]
    torch = require("torch")
    transformers = require("transformers")
    from transformers.modeling_outputs import SequenceClassifierOutput
    from transformers.models.bert.modeling_bert import BertModel, BertPreTrainedModel

    class CosineBertConfig(transformers.BertConfig):
        model_type = MODEL_TYPE

    class BertCosineForSequenceClassification(BertPreTrainedModel):
        config_class = CosineBertConfig

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            config.num_labels = 1
            self.bert = BertModel(config, add_pooling_layer=False)
            self.classifier = torch.nn.Linear(1, 1)
            self.post_init()
            with torch.no_grad():
                self.classifier.weight.fill_(INIT_SCALE)
                self.classifier.bias.fill_(INIT_SHIFT)

        def _init_weights(self, module: Any) -> None:
            if module is getattr(self, "classifier", None):
                return  # keeps w, b (set in __init__, or loaded)
            super()._init_weights(module)

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
            if token_type_ids is None:
                raise ValueError(
                    f"{MODEL_TYPE} needs token_type_ids to tell the query from the passage; tokenize "
                    "(query, passage) pairs with the model's BERT tokenizer"
                )
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            query = segment_mean(torch, hidden, attention_mask * (token_type_ids == 0))
            passage = segment_mean(torch, hidden, attention_mask * (token_type_ids == 1))
            cosine = torch.nn.functional.cosine_similarity(query, passage, dim=-1, eps=1e-8)
            logits = self.classifier(cosine.unsqueeze(-1))
            return SequenceClassifierOutput(logits=logits)

    _CLASSES["config"], _CLASSES["model"] = CosineBertConfig, BertCosineForSequenceClassification
    return CosineBertConfig, BertCosineForSequenceClassification


def segment_mean(torch: Any, hidden: Any, mask: Any) -> Any:
    """Mean of ``hidden`` over the positions where ``mask`` is 1 (rows with none give zeros)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


def register() -> None:
    """Make ``AutoConfig`` / ``AutoModelForSequenceClassification`` know :data:`MODEL_TYPE` (idempotent)."""
    transformers = require("transformers")
    config_cls, model_cls = _classes()
    try:
        transformers.AutoConfig.register(MODEL_TYPE, config_cls)
    except ValueError:  # already registered
        pass
    try:
        transformers.AutoModelForSequenceClassification.register(config_cls, model_cls)
    except ValueError:
        pass


def new_cosine_model(encoder_dir: Any, *, num_layers: int | None = None) -> Any:
    """A cosine-head cross-encoder whose encoder weights are copied from a BERT encoder folder."""
    transformers = require("transformers")
    config_cls, model_cls = _classes()
    base = transformers.BertConfig.from_pretrained(encoder_dir, local_files_only=True)
    config = config_cls.from_dict({k: v for k, v in base.to_dict().items() if k != "model_type"})
    if num_layers is not None:
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not 1 <= num_layers <= base.num_hidden_layers:
            raise ConfigError(
                f"num_layers={num_layers!r} is not valid; the encoder has {base.num_hidden_layers} layers. "
                f"Fix: use 1..{base.num_hidden_layers}"
            )
        config.num_hidden_layers = num_layers
    config.architectures = [model_cls.__name__]
    config.num_labels = 1
    model = model_cls(config)
    encoder = transformers.BertModel.from_pretrained(encoder_dir, local_files_only=True)
    state = {
        k: v for k, v in encoder.state_dict().items()
        if not k.startswith("pooler.") and (not k.startswith("encoder.layer.") or int(k.split(".")[2]) < config.num_hidden_layers)
    }
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"encoder weights of {encoder_dir} do not fit a BERT model: missing {missing}, unexpected {unexpected}")
    return model
