"""RecordLog: append-only segments, replacement, deletion, compaction, hard links."""

from __future__ import annotations

import numpy as np

from ragsift.index.records import RecordLog


def rows(*ids, tag="v1"):
    return [{"id": i, "tag": tag} for i in ids]


def write_gen(log, root, n, expected=None):
    src = root / f"g{n - 1}" if n > 1 else None
    meta = log.write(src, root / f"g{n}", f"seg-{n:06d}.jsonl")
    if expected is not None:  # what was written is the log's live state
        assert list(RecordLog.load(root / f"g{n}", meta).rows()) == expected
    return meta


def test_small_appends_link_old_segments_and_write_only_new_rows(tmp_path):
    log = RecordLog()
    log.append(rows(*[f"d{i}" for i in range(100)]))
    meta = write_gen(log, tmp_path, 1, rows(*[f"d{i}" for i in range(100)]))
    log.append(rows("new"))
    meta = write_gen(log, tmp_path, 2)
    assert [name for name, _ in meta["segments"]] == ["seg-000001.jsonl", "seg-000002.jsonl"]
    assert (tmp_path / "g2" / "seg-000001.jsonl").stat().st_nlink == 2  # hard-linked, not copied
    assert len((tmp_path / "g2" / "seg-000002.jsonl").read_text().splitlines()) == 1
    loaded = RecordLog.load(tmp_path / "g2", meta)
    live = list(loaded.rows())
    assert [r["id"] for r in live][-1] == "new" and len(live) == 101


def test_replace_and_delete_keep_only_live_versions(tmp_path):
    log = RecordLog()
    first = rows("a", "b", "c", *[f"x{i}" for i in range(10)])
    log.append(first)
    meta = write_gen(log, tmp_path, 1, first)
    log.append(rows("b", tag="v2"))  # replaces b
    log.remove(["c"])
    log.append(rows("d", "d", tag="twice"))  # replaced within the same batch: one live copy
    meta = write_gen(log, tmp_path, 2)
    assert len(meta["segments"]) == 2  # 3 dead lines of 16: no compaction
    live = list(RecordLog.load(tmp_path / "g2", meta).rows())
    assert [(r["id"], r["tag"]) for r in live if not r["id"].startswith("x")] == [("a", "v1"), ("b", "v2"), ("d", "twice")]


def test_many_dead_lines_trigger_compaction(tmp_path):
    log = RecordLog()
    log.append(rows("a", "b", "c"))
    write_gen(log, tmp_path, 1, rows("a", "b", "c"))
    log.remove(["a", "b"])
    meta = write_gen(log, tmp_path, 2, rows("c"))
    assert meta["segments"] == [["seg-000002.jsonl", 1]]
    loaded = RecordLog.load(tmp_path / "g2", meta)
    assert list(loaded.rows()) == rows("c") and np.all(loaded.live)


def test_records_are_read_lazily_by_id_row_and_column(tmp_path):
    log = RecordLog(("id", "doc_id"))
    first = [{"id": f"c{i}", "doc_id": f"d{i // 2}", "text": f"text {i}"} for i in range(10)]
    log.append(first)
    write_gen(log, tmp_path, 1, first)
    log.remove(["c3"])
    log.append([{"id": "c10", "doc_id": "d9", "text": "pending"}])
    # before the write: the pending record is visible by id, row and column
    assert log.get("c10")["text"] == "pending" and log.row(9)["id"] == "c10"
    assert log.column("doc_id")[-2:] == ["d4", "d9"] and "c3" not in log
    meta = write_gen(log, tmp_path, 2)
    for name, _ in meta["segments"]:  # each segment has its sidecars
        assert (tmp_path / "g2" / f"{name}.offsets.npy").is_file() and (tmp_path / "g2" / f"{name}.cols.json").is_file()
    loaded = RecordLog.load(tmp_path / "g2", meta, ("id", "doc_id"))
    assert len(loaded) == 10 and loaded.column("id") == [f"c{i}" for i in range(11) if i != 3]
    assert loaded.get("c7") == first[7] and loaded.row(3)["id"] == "c4"
    import shutil

    shutil.rmtree(tmp_path / "g2")  # a writer removed the generation: what was opened stays readable
    assert loaded.get("c10")["text"] == "pending"


def test_segments_without_sidecars_are_scanned_and_get_them_on_the_next_write(tmp_path):
    import json

    g1 = tmp_path / "g1"
    g1.mkdir()
    records = [{"id": f"r{i}", "text": "é" * i} for i in range(5)]  # multi-byte text: offsets are bytes
    (g1 / "seg-000001.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    np.save(g1 / "live.npy", np.ones(5, dtype=bool))
    log = RecordLog.load(g1, {"segments": [["seg-000001.jsonl", 5]]})
    assert log.get("r4") == records[4] and log.row(2) == records[2]
    log.append([{"id": "r5", "text": "new"}])
    meta = write_gen(log, tmp_path, 2)
    assert (tmp_path / "g2" / "seg-000001.jsonl.offsets.npy").is_file()
    again = RecordLog.load(tmp_path / "g2", meta)
    assert [r["id"] for r in again.rows()] == [f"r{i}" for i in range(6)]
    (g1 / "empty.jsonl").write_bytes(b"")  # an empty segment from before the sidecars (no parents)
    empty = RecordLog.load(g1, {"segments": [["seg-000001.jsonl", 5], ["empty.jsonl", 0]]})
    assert len(empty) == 5


def test_position_of_an_id_follows_deletes_and_appends(tmp_path):
    log = RecordLog()
    log.append(rows(*[f"r{i}" for i in range(6)]))
    write_gen(log, tmp_path, 1, rows(*[f"r{i}" for i in range(6)]))
    log.remove(["r1", "r4"])
    log.append(rows("r6", "r2"))  # r2 replaced: it moves to the end
    assert [log.row(i)["id"] for i in range(len(log))] == ["r0", "r3", "r5", "r6", "r2"]
    assert {rid: log.position(rid) for rid in ("r0", "r3", "r5", "r6", "r2")} == {"r0": 0, "r3": 1, "r5": 2, "r6": 3, "r2": 4}
