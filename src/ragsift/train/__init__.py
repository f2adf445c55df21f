"""Domain adaptation: train the reranker and the embedder on a collection's own judgements.

* :func:`ragsift.train.reranker.train_reranker` (``ragsift train-reranker``): a cross-encoder;
* :func:`ragsift.train.embedder.train_embedder` (``ragsift train-embedder``): the dense model;
* :mod:`ragsift.train.data`: training queries (judged and title → body) and hard-negative mining
  with ragsift's hybrid retriever.

Importing this package does not import torch; the training functions do.
"""

__all__: list[str] = []  # the submodules are the API: data, reranker, embedder, commands
