"""Training loop, checkpoints, exact resume after a kill, config validation, report."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from contrastor.data.datasets import load_image_dataset, stratified_split
from contrastor.losses.registry import lookup, names, trainable
from contrastor.run.checkpoint import read_metadata
from contrastor.train.config import TrainConfig, load_config
from contrastor.train.loop import CHECKPOINT, Run, build_model, train
from contrastor.train.objectives import build_objective

TINY = dict(dataset="digits", width=4, embedding_dim=16, batch_size=64, lr=3e-3, progress=False)


def _tiny_flags(out: Path, **kw) -> list[str]:
    """The command-line form of the tiny configuration."""
    flags = []
    for key, value in {**TINY, "out": str(out), **kw}.items():
        if isinstance(value, bool):
            flags.append(f"--{'' if value else 'no-'}{key.replace('_', '-')}")
        else:
            flags += [f"--{key.replace('_', '-')}", str(value)]
    return flags


def _tiny(tmp_path: Path, name: str, **kw):
    return load_config(None, **{**TINY, "out": str(tmp_path / name), **kw})


def test_tiny_run_writes_the_run_folder(tmp_path):
    result = train(_tiny(tmp_path, "run", epochs=2))
    folder = result.folder
    for name in (
        CHECKPOINT,
        "model.safetensors",
        "metrics.csv",
        "metrics.json",
        "results.json",
        "report.html",
        "config.yaml",
        "training.png",
        "geometry.png",
        "embeddings.png",
    ):
        assert (folder / name).is_file(), name
    history = json.loads((folder / "metrics.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(0.0 <= row["knn_accuracy"] <= 1.0 for row in history)
    assert set(result.table) == {"raw pixels", "untrained encoder", "trained encoder"}
    html = (folder / "report.html").read_text()
    assert "trained encoder" in html and 'src="embeddings.png"' in html
    assert len((folder / "metrics.csv").read_text().splitlines()) == 3
    meta = read_metadata(folder / CHECKPOINT)
    assert meta["step"] == 2 * (1437 // 64)
    # without the baselines only the trained encoder is evaluated, with the same figures
    alone = train(_tiny(tmp_path, "alone", epochs=2, baselines=False))
    assert alone.table == {"trained encoder": result.table["trained encoder"]}


@pytest.mark.parametrize("loss", [name for name in trainable() if name != "nt_xent"])
def test_every_loss_trains(tmp_path, loss):
    """Each loss's objective is wired into the loop: a few optimizer steps with finite losses
    (the full loop, evaluation and report are covered by the ntxent runs above)."""
    config = _tiny(
        tmp_path,
        loss,
        loss=loss,
        epochs=1,
        views=lookup(loss).views[0],
        learnable_temperature=loss in ("clip", "siglip"),
    )
    run = Run(config)
    before = [p.detach().clone() for p in run.model.parameters()]
    for step in range(3):
        value = run.loop.train_step(run.loop.plan[step])
        assert math.isfinite(value), (loss, step)
    moved = any(not torch.equal(a, b) for a, b in zip(before, run.model.parameters(), strict=True))
    assert moved, f"{loss}: no parameter changed"


def test_losses_that_do_not_fit_the_task_are_refused_with_a_reason(tmp_path):
    unfit = [name for name in names() if name not in trainable()]
    assert unfit
    for name in unfit:
        with pytest.raises(ValueError, match=f"loss {name!r} cannot train on the image task"):
            _tiny(tmp_path, name, loss=name)
    with pytest.raises(ValueError, match="exactly two views"):
        _tiny(tmp_path, "moco", loss="moco", views=3)
    with pytest.raises(ValueError, match="at least 3 views"):
        _tiny(tmp_path, "symile", loss="symile")


@pytest.mark.parametrize(
    "loss, extra",
    [
        pytest.param("isogclr", {}, id="isogclr"),
        pytest.param("mochi", {}, id="mochi", marks=pytest.mark.slow),
        pytest.param("directpred", {}, id="directpred", marks=pytest.mark.slow),
        pytest.param("sbcl", {}, id="sbcl", marks=pytest.mark.slow),
        pytest.param(
            "nt_xent",
            {"robust": "loss_weight", "robust_warmup": 1, "label_noise": 0.3},
            id="robust",
        ),
    ],
)
def test_resume_restores_the_state_of_stateful_losses(tmp_path, loss, extra):
    common = {"loss": loss, "epochs": 2, "baselines": False, **extra}
    whole = train(_tiny(tmp_path, "whole", **common))
    # stop a run mid-epoch after a checkpoint, as a crash would, then resume it
    loop = Run(_tiny(tmp_path, "part", **common)).loop
    for i in range(5):
        loop.step_losses.append(loop.train_step(loop.plan[i]))
    loop.save()
    del loop
    resumed = train(_tiny(tmp_path, "part", resume=True, **common))
    assert resumed.step_losses == whole.step_losses
    a, b = _weights(whole.folder), _weights(resumed.folder)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_autocast_run(tmp_path):
    result = train(_tiny(tmp_path, "bf16", epochs=1, precision="bf16"))
    assert all(torch.isfinite(torch.tensor(result.step_losses)))


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_resume_after_kill_gives_identical_weights(tmp_path):
    common = dict(epochs=3, checkpoint_every=4)
    reference = train(_tiny(tmp_path, "straight", **common))
    out = tmp_path / "killed"
    args = [
        sys.executable,
        "-m",
        "contrastor",
        "train",
        *_tiny_flags(out, epochs=3, checkpoint_every=4),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (out / CHECKPOINT).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / CHECKPOINT).exists(), proc.stderr.read().decode()
    killed_at = read_metadata(out / CHECKPOINT)["step"]
    assert killed_at < 3 * (1437 // 64), "the run finished before it could be killed"
    assert not (out / "model.safetensors").exists()
    resumed = train(_tiny(tmp_path, "killed", resume=True, **common))
    a, b = _weights(reference.folder), _weights(resumed.folder)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.step_losses == reference.step_losses
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]


def test_resume_refuses_other_settings(tmp_path):
    train(_tiny(tmp_path, "run", epochs=1))
    with pytest.raises(ValueError, match="other settings"):
        train(_tiny(tmp_path, "run", epochs=1, lr=0.1, resume=True))


def test_config_file_and_validation(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("loss: supcon\nbatch-size: 32\nepochs: 3\n")
    config = load_config(path, epochs=5)
    assert (config.loss, config.batch_size, config.epochs) == ("supcon", 32, 5)
    path.write_text("loss: supcon\nbatchsize: 32\n")
    with pytest.raises(ValueError, match="unknown options: batchsize"):
        load_config(path)
    with pytest.raises(ValueError) as info:
        load_config(None, loss="nope", lr=-1.0, views=1, test_fraction=1.5)
    message = str(info.value)
    for fragment in ("loss must be one of", "lr must be > 0", "views must be", "test_fraction"):
        assert fragment in message
    with pytest.raises(ValueError, match="exactly two views"):
        load_config(None, loss="clip", views=3)
    path.write_text("- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(path)


def test_options_read_as_yaml_reads_them_take_each_option_s_type(tmp_path):
    """YAML 1.1 reads ``2e-5`` as text and ``1`` as an integer: both become the float the
    option is, in a config file and under ``--set``; text that is no number is refused."""
    from contrastor.recipes import get_recipe
    from contrastor.recipes.base import recipe_options
    from contrastor.run.options import typed_options

    path = tmp_path / "run.yaml"
    path.write_text("lr: 2e-5\ntest_fraction: 1\nepochs: '3'\n")
    with pytest.raises(ValueError, match="test_fraction must be"):
        load_config(path)  # 1.0 is a float now, and out of (0, 1)
    path.write_text("lr: 2e-5\nepochs: '3'\n")
    config = load_config(path)
    assert (config.lr, config.epochs) == (2e-5, 3) and isinstance(config.lr, float)
    with pytest.raises(ValueError, match="lr must be a number \\(got 'fast'\\)"):
        load_config(None, lr="fast")
    text = recipe_options(get_recipe("text"), {"lr": "2e-05", "matryoshka_dims": 64})
    assert text.lr == 2e-5 and text.dims() == [64]
    given = {"lr": "fast", "progress": "yes", "nope": "1", "epochs": 2.5, "model": ""}
    assert typed_options(TrainConfig, given) == given  # left for validation to refuse


def test_projector_and_predictor_widths_follow_the_config(tmp_path):
    config = _tiny(
        tmp_path, "wide", loss="byol", head_layers=3, head_hidden=48, predictor_hidden=24
    )
    model = build_model(config, load_image_dataset("digits"))
    linears = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)]
    widths = [(m.in_features, m.out_features) for m in linears]
    assert widths == [(model.encoder.feature_dim, 48), (48, 48), (48, 16)]
    predictor = build_objective(config, model, 100).predictor
    widths = [
        (m.in_features, m.out_features) for m in predictor.modules() if hasattr(m, "in_features")
    ]
    assert widths == [(16, 24), (24, 16)]
    default = build_model(_tiny(tmp_path, "default"), load_image_dataset("digits"))
    assert default.head.net[0].out_features == max(default.encoder.feature_dim, 16)
    with pytest.raises(ValueError, match="head_hidden must be >= 0"):
        load_config(None, head_hidden=-1)
    with pytest.raises(ValueError, match="predictor_hidden must be >= 0"):
        load_config(None, predictor_hidden=-2)


def test_predictor_lr_scales_only_the_predictor_parameters(tmp_path):
    run = Run(_tiny(tmp_path, "plr", loss="simsiam", predictor_lr=10.0, epochs=1))
    predictor = {id(p) for p in run.loss.predictor.parameters()}
    groups = run.loop.optimizer.param_groups
    by_lr = {g["initial_lr"]: {id(p) for p in g["params"]} for g in groups}
    assert sorted(by_lr) == pytest.approx([3e-3, 3e-2])
    assert by_lr[max(by_lr)] == predictor
    assert by_lr[min(by_lr)] == {id(p) for p in run.model.parameters()}
    with pytest.raises(ValueError, match="predictor_lr must be > 0"):
        load_config(None, loss="byol", predictor_lr=0.0)
    with pytest.raises(ValueError, match="loss 'nt_xent' has none"):
        load_config(None, loss="nt_xent", predictor_lr=10.0)
    with pytest.raises(ValueError, match="loss 'directpred' has none"):
        load_config(None, loss="directpred", predictor_lr=10.0)


def test_momentum_option_sets_the_target_base_and_keeps_the_ramp(tmp_path):
    data = load_image_dataset("digits")
    for momentum, expected in ((0.0, lookup("byol").momentum[0]), (0.9, 0.9)):
        config = _tiny(tmp_path, f"m{momentum}", loss="byol", momentum=momentum, epochs=3)
        target = build_objective(config, build_model(config, data), 640).target
        assert target.momentum == expected and target.total_steps == 3 * (640 // 64)
    with pytest.raises(ValueError, match="momentum must be in"):
        load_config(None, loss="byol", momentum=1.0)
    with pytest.raises(ValueError, match="loss 'nt_xent' has none"):
        load_config(None, loss="nt_xent", momentum=0.9)


def test_validation_report_holds_out_part_of_the_training_split(tmp_path):
    data = load_image_dataset("digits", 0.2, 0)
    run = Run(_tiny(tmp_path, "val", epochs=1, report="validation"))
    held, kept = run.data.test_images, run.data.train_images
    assert len(held) + len(kept) == len(data.train_images)
    assert (
        torch.bincount(run.data.test_labels).tolist()
        == torch.bincount(
            data.train_labels[stratified_split(data.train_labels.numpy(), 0.2, 0)[1]]
        ).tolist()
    )
    rows = {tuple(x.flatten().tolist()) for x in data.train_images}
    tests = {tuple(x.flatten().tolist()) for x in data.test_images}
    assert all(tuple(x.flatten().tolist()) in rows for x in held)
    assert not any(tuple(x.flatten().tolist()) in tests - rows for x in [*held, *kept])
    with pytest.raises(ValueError, match="report must be one of"):
        load_config(None, report="train")


def test_atomic_checkpoint_leaves_no_temporary_files(tmp_path):
    train(_tiny(tmp_path, "run", epochs=1, checkpoint_every=2))
    leftovers = [p for p in os.listdir(tmp_path / "run") if p.endswith(".tmp")]
    assert leftovers == []


def test_tensorboard_events_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    result = train(_tiny(tmp_path, "tb", epochs=1))
    events = list((result.folder / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


@pytest.mark.parametrize("loss", ["ntxent", pytest.param("supcon", marks=pytest.mark.slow)])
def test_torchrun_two_processes_on_cpu(tmp_path, loss):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    flags = _tiny_flags(out, loss=loss, epochs=1)
    args = [str(torchrun), "--nproc_per_node", "2", "-m", "contrastor", "train", *flags]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("report:") == 1  # only rank 0 reports
    history = json.loads((out / "metrics.json").read_text())
    assert [row["epoch"] for row in history] == [1]
    assert (out / "report.html").is_file() and (out / "model.safetensors").is_file()


@pytest.mark.parametrize("robust", ["loss_weight", "knn_drop", "knn_unlabel"])
def test_label_noise_and_robust_training(tmp_path, robust):
    result = train(
        _tiny(
            tmp_path,
            robust,
            loss="supcon",
            epochs=2,
            label_noise=0.4,
            robust=robust,
            robust_warmup=1,
        )
    )
    noise = json.loads((result.folder / "results.json").read_text())["noise"]
    assert abs(noise["label_noise_rate"] - 0.4) < 0.01
    assert 0.0 <= noise["detector"]["auroc"] <= 1.0
    assert all(torch.isfinite(torch.tensor(result.step_losses)))
    kept = result.table["trained encoder, kept labels"]
    assert set(kept) == set(result.table["trained encoder"])


def test_kept_labels_fit_the_evaluation_on_the_samples_the_detector_keeps(tmp_path, monkeypatch):
    """The kept-labels row is the frozen evaluation refitted on exactly the samples whose
    clean probability (refreshed on the trained encoder) reaches 0.5; a warm-up as long as
    the training filters only at the end, and no strategy gives no such row."""
    from contrastor.eval.frozen import feature_accuracy
    from contrastor.train import loop

    seen = []

    def spy(train_f, train_y, test_f, test_y, k):
        seen.append(len(train_y))
        return feature_accuracy(train_f, train_y, test_f, test_y, k)

    monkeypatch.setattr(loop, "feature_accuracy", spy)
    config = _tiny(
        tmp_path,
        "posthoc",
        loss="supcon",
        epochs=2,
        label_noise=0.4,
        robust="knn_drop",
        robust_warmup=2,
    )
    run = Run(config)
    run.loop.fit()
    table, _ = run.task.final_table()
    robust = run.task.loss.robust
    assert int(robust.epoch) == 2  # refreshed once more after the last epoch
    expected = int((robust.clean >= 0.5).sum())
    assert 0 < expected < len(run.data.train_labels)
    assert seen[-1] == expected and seen[-2] == len(run.data.train_labels)
    assert "trained encoder, kept labels" in table

    plain = Run(_tiny(tmp_path, "plain", loss="supcon", epochs=1, label_noise=0.4))
    plain.loop.fit()
    assert "trained encoder, kept labels" not in plain.task.final_table()[0]


def test_robust_training_is_refused_for_losses_without_per_sample_values(tmp_path):
    with pytest.raises(ValueError, match="has none"):
        _tiny(tmp_path, "bt", loss="barlow_twins", robust="loss_weight")
    with pytest.raises(ValueError, match="withholds labels"):
        _tiny(tmp_path, "sbcl", loss="sbcl", robust="knn_unlabel")
    with pytest.raises(ValueError, match="label_noise"):
        _tiny(tmp_path, "bad", label_noise=1.5)


def test_unlabel_strategy_makes_suspects_positives_of_their_own_views_only(gen):
    """After the warm-up, an ``unlabel`` strategy trains the loss on every anchor with
    weight 1 and the suspects' labels replaced by unique ids: exactly SupCon on those labels."""
    from contrastor.noise.training import RobustTraining
    from contrastor.train.objectives import Batch

    config = TrainConfig(loss="supcon", robust="knn_unlabel", robust_warmup=1).validate()
    model = build_model(config, load_image_dataset("digits", 0.2, 0))
    objective = build_objective(config, model, dataset_size=10)
    robust = objective.robust
    assert isinstance(robust, RobustTraining)
    z = [torch.nn.functional.normalize(torch.randn(6, 8, generator=gen), dim=1) for _ in "ab"]
    labels, index = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([9, 3, 4, 0, 7, 1])
    robust.clean.copy_(torch.tensor([0.9, 0.2, 1.0, 0.4, 0.6, 1.0, 1.0, 0.1, 1.0, 0.8]))
    batch = Batch(z, [], labels, index)
    robust.refresh(0)  # warm-up: labels as given
    assert torch.equal(robust.labels(index, labels), labels)
    warm = objective(batch)
    assert torch.allclose(warm, objective.loss(torch.stack(z, 1), labels))
    robust.epoch.fill_(1)
    expected_labels = torch.tensor([0, -4, 1, 1, -8, -2])  # indices 3, 7 and 1 are suspects
    assert torch.equal(robust.labels(index, labels), expected_labels)
    got = objective(batch)
    assert torch.allclose(got, objective.loss(torch.stack(z, 1), expected_labels))
    assert torch.equal(robust.weights(index), torch.ones(6))
