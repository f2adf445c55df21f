"""RankGPT's sliding windows for listwise reranking, as pure functions.

The window of ``window`` passages starts at the end of the list and moves to the front by
``step`` passages at a time; each window is reordered by the model before the next one is cut,
so a relevant passage found late in the list can climb to the top in one pass (like one bubble
sort pass with blocks). With ``n = 100, window = 20, step = 10`` the windows are
``[80, 100), [70, 90), …, [0, 20)``: nine requests, as in RankGPT. Unlike RankGPT's reference
loop, a list shorter than the window still gets one window, and the last window is clipped at
the front (``n = 25``: ``[5, 25), [0, 15)``) instead of leaving the first passages unranked.

One pass guarantees the order of the first ``window - step`` positions; below that the order is
the model's best effort, which is what reranking for RAG needs.
"""

from __future__ import annotations

__all__ = ["plan_windows", "apply_window"]


def plan_windows(n: int, window: int, step: int) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans, end exclusive, in the order they are sent (back to front)."""
    spans: list[tuple[int, int]] = []
    end = n
    while end > 0:
        start = max(0, end - window)
        spans.append((start, end))
        if start == 0:
            break
        end -= step
    return spans


def apply_window(order: list[int], start: int, end: int, permutation: list[int]) -> list[int]:
    """``order`` with ``order[start:end]`` rearranged by ``permutation`` (0-based positions in the window)."""
    span = order[start:end]
    return order[:start] + [span[p] for p in permutation] + order[end:]
