"""Human-readable terminal output (rich tables) for the CLI."""

from __future__ import annotations

from typing import Sequence

from ragsift.types import Hit

__all__ = ["print_hits", "snippet", "side_by_side"]


def snippet(text: str, width: int = 160) -> str:
    """One line of at most ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def _label(hit: Hit) -> str:
    path = " > ".join(hit.metadata.get("headings", ())) if hit.metadata else ""
    return path or hit.title or hit.doc_id


def _body(hit: Hit, label: str) -> str:
    """The hit's text without a leading copy of its label (Markdown chunks start with their heading path)."""
    text = hit.text.lstrip()
    return text[len(label):] if label and text.startswith(label) else text


def print_hits(query: str, result, opts) -> None:
    from rich.console import Console
    from rich.table import Table

    taken = result.route["route"] if result.route else opts.mode.value
    mode = taken + (f" ({opts.fusion.value})" if taken == "hybrid" else "")
    if result.route:
        mode = f"auto: {result.route['kind']} → {mode}"
    if opts.filters is not None:
        mode += f", where {opts.filters}"
    table = Table(title=f"{query!r} — {mode}, {result.timings_ms.get('total', 0):.1f} ms", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("id")
    table.add_column("text")
    table.add_column("sources")
    for rank, h in enumerate(result.hits, 1):
        sources = " ".join(f"{k}={v:.3f}" for k, v in h.source_scores.items())
        label = _label(h)
        table.add_row(str(rank), f"{h.score:.4f}", h.id, f"[bold]{label}[/bold]\n{snippet(_body(h, label))}", sources)
    Console().print(table)


def print_validation(validation: dict) -> None:
    """The verdict of ``--validate`` and, on fail, the suggested terms."""
    from rich.console import Console

    console = Console()
    verdict = validation["verdict"]
    style = "green" if verdict == "pass" else "bold red"
    console.print(f"validation: [{style}]{verdict}[/{style}] ({'; '.join(validation['reasons'])})")
    suggestions = validation.get("suggestions") or {}
    if suggestions.get("did_you_mean"):
        console.print(f"did you mean: [bold]{suggestions['did_you_mean']}[/bold]")
    fixes = ", ".join(f"{s['term']} → {s['suggestion']}" for s in suggestions.get("spelling", []))
    if fixes:
        console.print(f"spelling: {fixes}")
    if suggestions.get("related"):
        console.print("related terms: " + ", ".join(suggestions["related"]))


def side_by_side(query: str, columns: dict[str, Sequence[Hit]], timings: dict[str, float]) -> None:
    """One table per query: a column per mode, a row per rank."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Q: {query}", show_lines=True, title_justify="left")
    table.add_column("#", justify="right")
    for name in columns:
        table.add_column(f"{name} ({timings.get(name, 0):.0f} ms)", ratio=1)
    depth = max((len(h) for h in columns.values()), default=0)
    for rank in range(depth):
        cells = []
        for hits in columns.values():
            if rank < len(hits):
                h = hits[rank]
                label = _label(h)
                cells.append(f"[bold]{label}[/bold] [dim]{h.score:.3f}[/dim]\n{snippet(_body(h, label), 110)}")
            else:
                cells.append("")
        table.add_row(str(rank + 1), *cells)
    Console().print(table)
