"""Query pipeline: retrieve → fuse → expand parents (→ rerank)."""
