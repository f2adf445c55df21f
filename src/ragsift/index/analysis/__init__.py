"""Implementation of the BM25 text analyzers; the public entry point is :mod:`ragsift.index.analyzers`.

One module per concern: ``options`` (the Enums), ``scripts`` (CJK Unicode ranges), ``protected``
(protected terms), ``base`` (the :class:`Analyzer` interface), and one module per analyzer family:
``words`` (en, simple), ``cjk`` (cjk-bigram), ``japanese`` (ja).
"""
