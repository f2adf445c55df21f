"""RecordLog: append-only segments, replacement, deletion, compaction, hard links."""

from __future__ import annotations

import numpy as np

from ragsift.index.records import RecordLog


def rows(*ids, tag="v1"):
    return [{"id": i, "tag": tag} for i in ids]


def write_gen(log, root, n, live):
    src = root / f"g{n - 1}" if n > 1 else None
    return log.write(src, root / f"g{n}", iter(live), f"seg-{n:06d}.jsonl")


def test_small_appends_link_old_segments_and_write_only_new_rows(tmp_path):
    log = RecordLog()
    log.append(rows(*[f"d{i}" for i in range(100)]))
    meta = write_gen(log, tmp_path, 1, rows(*[f"d{i}" for i in range(100)]))
    log.append(rows("new"))
    meta = write_gen(log, tmp_path, 2, [])
    assert [name for name, _ in meta["segments"]] == ["seg-000001.jsonl", "seg-000002.jsonl"]
    assert (tmp_path / "g2" / "seg-000001.jsonl").stat().st_nlink == 2  # hard-linked, not copied
    assert sum(1 for _ in open(tmp_path / "g2" / "seg-000002.jsonl")) == 1
    loaded, live = RecordLog.load(tmp_path / "g2", meta)
    assert [r["id"] for r in live][-1] == "new" and len(live) == 101


def test_replace_and_delete_keep_only_live_versions(tmp_path):
    log = RecordLog()
    first = rows("a", "b", "c", *[f"x{i}" for i in range(10)])
    log.append(first)
    meta = write_gen(log, tmp_path, 1, first)
    log.append(rows("b", tag="v2"))  # replaces b
    log.remove(["c"])
    log.append(rows("d", "d", tag="twice"))  # replaced within the same batch: one live copy
    meta = write_gen(log, tmp_path, 2, [])
    assert len(meta["segments"]) == 2  # 3 dead lines of 16: no compaction
    _, live = RecordLog.load(tmp_path / "g2", meta)
    assert [(r["id"], r["tag"]) for r in live if not r["id"].startswith("x")] == [("a", "v1"), ("b", "v2"), ("d", "twice")]


def test_many_dead_lines_trigger_compaction(tmp_path):
    log = RecordLog()
    log.append(rows("a", "b", "c"))
    write_gen(log, tmp_path, 1, rows("a", "b", "c"))
    log.remove(["a", "b"])
    meta = write_gen(log, tmp_path, 2, rows("c"))
    assert meta["segments"] == [["seg-000002.jsonl", 1]]
    loaded, live = RecordLog.load(tmp_path / "g2", meta)
    assert live == rows("c") and np.all(loaded.live)
