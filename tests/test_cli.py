"""The command line: eval on .npy and .safetensors files, errors, help."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from contrastor.cli.main import main
from contrastor.eval import knn_accuracy, retrieval_metrics


@pytest.fixture
def clustered(gen):
    centers = torch.randn(5, 16, generator=gen) * 4
    labels = torch.arange(200) % 5
    return centers[labels] + torch.randn(200, 16, generator=gen), labels


def test_eval_npy_with_labels(tmp_path, clustered, capsys):
    x, y = clustered
    np.save(tmp_path / "emb.npy", x.numpy())
    np.save(tmp_path / "y.npy", y.numpy())
    out = tmp_path / "m.json"
    code = main(
        [
            "eval",
            str(tmp_path / "emb.npy"),
            "--labels",
            str(tmp_path / "y.npy"),
            "--k",
            "1,5",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    metrics = json.loads(out.read_text())
    expected = retrieval_metrics(x, x, y, y, ks=(1, 5), exclude_self=True)
    assert metrics["recall@1"] == pytest.approx(expected["recall@1"])
    assert metrics["map@R"] == pytest.approx(expected["map@R"])
    assert metrics["knn_accuracy"] == pytest.approx(
        knn_accuracy(x, y, x, y, k=20, exclude_self=True)
    )
    assert "recall@5" in capsys.readouterr().out


def test_eval_safetensors_gallery_pairs(tmp_path, gen):
    q = torch.randn(50, 8, generator=gen)
    g = q + 0.01 * torch.randn(50, 8, generator=gen)
    save_file({"embeddings": q}, str(tmp_path / "q.safetensors"))
    save_file({"embeddings": g, "other": g[:2].clone()}, str(tmp_path / "g.safetensors"))
    out = tmp_path / "m.json"
    code = main(
        [
            "eval",
            str(tmp_path / "q.safetensors"),
            "--gallery",
            str(tmp_path / "g.safetensors"),
            "--json",
            str(out),
        ]
    )
    assert code == 0
    metrics = json.loads(out.read_text())
    assert metrics["recall@1"] == 1.0
    assert metrics["positive_similarity"] > 0.99


def test_eval_safetensors_with_labels_inside(tmp_path, clustered):
    x, y = clustered
    save_file({"embeddings": x, "labels": y}, str(tmp_path / "e.safetensors"))
    out = tmp_path / "m.json"
    assert main(["eval", str(tmp_path / "e.safetensors"), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["knn_accuracy"] > 0.9


def test_eval_errors_are_clear(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "missing.npy")]) == 2
    assert "no such file" in capsys.readouterr().err
    np.save(tmp_path / "emb.npy", np.full((4, 3), np.nan, dtype=np.float32))
    assert main(["eval", str(tmp_path / "emb.npy")]) == 2
    assert "NaN" in capsys.readouterr().err
    np.save(tmp_path / "emb.npy", np.ones((4, 3), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.arange(3))
    assert main(["eval", str(tmp_path / "emb.npy"), "--labels", str(tmp_path / "y.npy")]) == 2
    assert "length 3" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "emb.npy"), "--k", "a,b"]) == 2
    assert "--k" in capsys.readouterr().err


def test_train_flag_validation_and_help(capsys):
    assert main(["train", "--epochs", "0", "--batch-size", "1"]) == 2
    err = capsys.readouterr().err
    assert "epochs must be > 0" in err and "batch_size must be at least 2" in err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--loss" in capsys.readouterr().out
    assert main([]) == 2


def test_bench_prints_time_memory_and_floor(capsys):
    assert main(["bench", "--loss", "supcon", "--batch", "64", "--dim", "8", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "Supervised contrastive: B = 64, d = 8, fp32, cpu, 128 x 128 scores" in out
    assert "| contrastor SupCon (auto) |" in out
    assert main(["bench", "--loss", "clip", "--batch", "32", "--dtype", "bf16", "--peers"]) == 0
    assert "open_clip ClipLoss" in capsys.readouterr().out
    assert main(["bench", "--loss", "moco", "--batch", "32", "--execution", "tiled"]) == 0
    assert main(["bench", "--batch", "1"]) == 2
    assert "--batch must be at least 2" in capsys.readouterr().err
    assert main(["bench", "--loss", "listnet"]) == 2
    assert "no image-task feed to time: needs document lists" in capsys.readouterr().err
    assert main(["bench", "--loss", "nope"]) == 2
    assert "unknown loss 'nope'" in capsys.readouterr().err
