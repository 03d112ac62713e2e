"""Each stored file is parsed once: the parsed tables of the content store.

Truths: a kept table is exactly ``nasurf.io.read`` of the blob with the same arguments
(frame, dtypes and metadata equal); an analysis after the upload uses the table the upload
read kept (shown by a marker planted in that table reaching the result, which a re-parse
could not produce); an identical request is a stored-result lookup, also for the same
content uploaded under another name.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import replace

import pandas as pd
import pytest

from nasurf.io import read
from nasurf.web import parsed
from web_server import analyse, server_fixture

pytestmark = [pytest.mark.realdata, pytest.mark.xdist_group("web")]

NA_MPR = "navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"


def _store(tmp_path, src):
    body = src.read_bytes()
    sha = hashlib.sha256(body).hexdigest()
    blobs = tmp_path / "blobs"
    (blobs / sha[:2]).mkdir(parents=True)
    (blobs / sha[:2] / sha).write_bytes(body)
    return blobs, sha


def _equal(a, b):
    pd.testing.assert_frame_equal(a.data, b.data, check_exact=True)
    assert a.metadata == b.metadata


def test_kept_table_is_the_read_and_a_torn_one_is_read_again(tmp_path, realdata):
    blobs, sha = _store(tmp_path, realdata / NA_MPR)
    truth = read(blobs / sha[:2] / sha)
    first = parsed.read_parsed(blobs, sha)
    kept = parsed.parsed_path(blobs, sha, None, None)
    assert kept.is_file()
    _equal(first, truth)
    _equal(parsed.read_parsed(blobs, sha), truth)          # from the kept table
    with_mass = parsed.read_parsed(blobs, sha, active_mass_g=0.01)
    _equal(with_mass, read(blobs / sha[:2] / sha, active_mass_g=0.01))
    assert parsed.parsed_path(blobs, sha, 0.01, None) != kept
    kept.write_bytes(kept.read_bytes()[:1000])              # torn (e.g. by a power cut)
    _equal(parsed.read_parsed(blobs, sha), truth)
    assert pickle.loads(kept.read_bytes()).metadata == truth.metadata   # replaced whole


def test_prune_keeps_only_current_tables_of_stored_files(tmp_path, realdata):
    blobs, sha = _store(tmp_path, realdata / NA_MPR)
    parsed.read_parsed(blobs, sha)
    kept = parsed.parsed_path(blobs, sha, None, None)
    old = kept.with_name(f"{sha}.0_0_1+pd0.{kept.name.split('.')[2]}.pkl")  # other version
    old.write_bytes(b"x")
    stray = kept.with_name(f".{kept.name}.0a1b2c3d.part")                   # a crash's temp
    stray.write_bytes(b"x")
    assert parsed.prune(blobs, {sha}) == 2
    assert kept.is_file() and not old.exists() and not stray.exists()
    assert parsed.prune(blobs, set()) == 1 and not kept.exists()            # file removed


server = server_fixture("--no-seed")


def test_analysis_uses_the_table_read_at_upload_and_repeats_are_lookups(server, realdata):
    src = realdata / NA_MPR
    c = server.client()
    try:
        f = c.post("/api/files", params={"name": src.name}, content=src.read_bytes()).json()
        sha = f["file"]["sha256"]
        kept = parsed.parsed_path(server.workspace / "blobs", sha, None, None)
        assert kept.is_file(), "the upload read keeps its table"
        data = pickle.loads(kept.read_bytes())
        marker = "planted in the kept table by the test"
        kept.write_bytes(pickle.dumps(replace(data, metadata=data.metadata.with_warning(
            marker))))
        res = analyse(c, "cycling", {"file_ids": [f["file"]["id"]]})
        assert marker in res["doc"]["reader_warnings"]       # not parsed again
        again = c.post("/api/analyses/cycling", json={"file_ids": [f["file"]["id"]]}).json()
        assert again["cached"] and again["result_id"] == res["id"]
        # the same bytes under another name: the same file, the same stored result
        f2 = c.post("/api/files", params={"name": "copy.mpr"}, content=src.read_bytes()).json()
        again = c.post("/api/analyses/cycling", json={"file_ids": [f2["file"]["id"]]}).json()
        assert again["cached"] and again["result_id"] == res["id"]
    finally:
        c.close()


def test_cv_set_uses_the_kept_tables(server, tmp_path):
    """A CV set reads its files from the kept tables too (no parse per analysis): a table
    planted with another technique makes the analysis refuse that file by its upload name,
    which the CSV itself (a CV) could never give; unplanted, the same request runs."""
    from pathlib import Path

    from test_cli_cv_gitt import write_cv_files

    c = server.client()
    try:
        ids, kept = [], []
        for p in write_cv_files(tmp_path):
            body = Path(p).read_bytes()
            f = c.post("/api/files", params={"name": Path(p).name}, content=body).json()
            ids.append(f["file"]["id"])
            kept.append(parsed.parsed_path(server.workspace / "blobs", f["file"]["sha256"],
                                           None, None))
        assert all(k.is_file() for k in kept)
        original = kept[1].read_bytes()
        data = pickle.loads(original)
        kept[1].write_bytes(pickle.dumps(replace(data, metadata=replace(
            data.metadata, technique="PEIS"))))
        options = {"vertex_exclusion_mV": "0", "cycle": "1"}
        res = analyse(c, "cv", {"file_ids": ids, "options": options})
        assert "failed" in res
        assert "not a CV" in res["failed"]["message"]
        assert Path(write_cv_files(tmp_path)[1]).name in res["failed"]["message"]
        kept[1].write_bytes(original)
        res = analyse(c, "cv", {"file_ids": ids, "options": options})
        assert "failed" not in res and res["doc"]["peaks"]
    finally:
        c.close()


def test_gitt_uses_the_kept_table(server, tmp_path):
    """GITT reads the kept table as well: a table planted with only the first part of the
    record gives fewer pulses than the file holds (3, methods.md §5 slab), which a parse of
    the file could not; the kept table as the upload wrote it gives all 3."""
    from test_gitt import gitt_record, slab_response

    p = tmp_path / "gitt.csv"
    gitt_record(slab_response, 600.0).data.to_csv(p, index=False)
    c = server.client()
    try:
        f = c.post("/api/files", params={"name": p.name}, content=p.read_bytes()).json()
        kept = parsed.parsed_path(server.workspace / "blobs", f["file"]["sha256"], None, None)
        original = kept.read_bytes()
        data = pickle.loads(original)
        cut = data.data.iloc[: len(data.data) // 2].reset_index(drop=True)
        kept.write_bytes(pickle.dumps(replace(data, data=cut)))
        res = analyse(c, "gitt", {"file_ids": [f["file"]["id"]],
                                  "options": {"length_um": "1"}})
        planted = len(res["doc"]["pulses"]) if "doc" in res else 0
        assert planted < 3
        kept.write_bytes(original)
        # other options (the default area kind spelled out): not the stored result above
        res = analyse(c, "gitt", {"file_ids": [f["file"]["id"]],
                                  "options": {"length_um": "1", "area_kind": "geometric"}})
        assert len(res["doc"]["pulses"]) == 3
        assert res["doc"]["pulses"][0]["D_L2_cm2_s"] == pytest.approx(1e-12, rel=1e-4)
    finally:
        c.close()
