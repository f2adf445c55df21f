"""Restore a collection whose ``manifest.json`` is missing or unreadable: ``ragsift repair DIR``.

Every generation directory holds a copy of the manifest that named it (``gen-N/manifest.json``),
written before the generation became live. Repair looks at the generations newest first, opens
each one fully (records, BM25 arrays, vectors) and makes the newest one that opens the live one
again, by writing its manifest atomically under the writer lock. It never deletes anything: the
generations it could not open stay where they are, for inspection. A collection whose manifest
is fine is left alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ragsift.errors import CollectionError
from ragsift.index.collection import MANIFEST, Collection, CollectionConfig, generation_dirs
from ragsift.files import atomic_write_text
from ragsift.index.store import DEFAULT_LOCK_TIMEOUT, writer_lock

__all__ = ["RepairReport", "repair"]


@dataclass
class RepairReport:
    """What :func:`repair` found and did."""

    path: Path
    manifest_ok: bool = False
    restored: str | None = None  # the generation directory made live again
    documents: int = 0
    findings: list[str] = field(default_factory=list)  # one line per generation looked at

    def summary(self) -> str:
        if self.manifest_ok:
            return f"{self.path}: {MANIFEST} is valid; nothing to repair"
        return f"{self.path}: restored {self.restored} ({self.documents} documents) as the live generation"


def repair(path: str | Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> RepairReport:
    """Make the newest complete generation live again when the manifest is lost; see the module docstring.

    Raises CollectionError (changing nothing) when no generation can be opened.
    """
    path = Path(path)
    report = RepairReport(path)
    if not path.is_dir():
        raise CollectionError(f"{path} is not a directory; give the collection's folder")
    with writer_lock(path, lock_timeout):
        if _manifest_opens(path, report):
            report.manifest_ok = True
            return report
        gens = generation_dirs(path)
        if not gens:
            raise CollectionError(f"{path} holds no collection generations (gen-*); there is nothing to restore")
        for _, gen_dir in reversed(gens):
            text = _complete(path, gen_dir, report)
            if text is not None:
                atomic_write_text(path / MANIFEST, text)
                report.restored = gen_dir.name
                report.documents = json.loads(text).get("stats", {}).get("documents", 0)
                return report
    raise CollectionError(
        f"no generation of {path} could be opened, so nothing was changed:\n  " + "\n  ".join(report.findings)
    )


def _manifest_opens(path: Path, report: RepairReport) -> bool:
    if not (path / MANIFEST).is_file():
        report.findings.append(f"{MANIFEST}: missing")
        return False
    try:
        Collection.open(path)
    except CollectionError as exc:
        report.findings.append(f"{MANIFEST}: {exc}")
        return False
    report.findings.append(f"{MANIFEST}: valid")
    return True


def _complete(path: Path, gen_dir: Path, report: RepairReport) -> str | None:
    """The manifest text of ``gen_dir`` when the generation opens completely, else None (noted in the report)."""
    copy = gen_dir / MANIFEST
    if not copy.is_file():
        report.findings.append(f"{gen_dir.name}: no manifest copy (written by an older ragsift); skipped")
        return None
    try:
        manifest = Collection._read_manifest(path, copy)
        if manifest["data_dir"] != gen_dir.name:
            raise CollectionError(f"its manifest names {manifest['data_dir']!r}")
        probe = Collection(path, CollectionConfig.from_dict(manifest["config"]))
        probe._load_generation(manifest)
    except CollectionError as exc:
        report.findings.append(f"{gen_dir.name}: incomplete ({exc})")
        return None
    report.findings.append(f"{gen_dir.name}: complete, {len(probe.documents)} documents")
    return copy.read_text(encoding="utf-8")
