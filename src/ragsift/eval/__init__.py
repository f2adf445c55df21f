"""Evaluation: metrics, latency percentiles, BEIR runs and reports."""
