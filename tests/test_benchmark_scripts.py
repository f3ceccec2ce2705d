"""The prepared GPU benchmark runs end to end (tiny sizes, CPU), so it is ready when a GPU is."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _load(name: str):
    path = Path(__file__).parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_benchmark_smoke_run(tmp_path):
    gpu = _load("gpu")
    text = gpu.main(["--smoke", "--device", "cpu", "--out", str(tmp_path / "gpu.md")])
    assert (tmp_path / "gpu.md").read_text() == text
    for name in ("CLIP", "SupCon", "SigLIP"):
        rows = [line for line in text.splitlines() if line.startswith(f"| {name} | exact |")]
        assert len(rows) == 2  # dense and tiled
        for row in rows:
            value_error = float(row.split("|")[4])
            assert value_error < 1e-3
    assert "| CLIP | contrastor | 256 | 16 |" in text
    assert "## Tile sweep" in text and "| 64 |" in text


def test_time_series_verdicts_use_the_paired_predictions_when_recorded():
    """Two seeds with the same counts of correct series can differ in significance; with
    the per-series predictions recorded, each seed gets its exact McNemar p-value."""
    import torch

    from contrastor.eval import mcnemar

    recipes = _load("recipes")
    n = 150  # gunpoint's test series
    trained = [1] * 140 + [0] * 10

    def row(raw: list[int]) -> dict:
        table = {
            "gunpoint: trained encoder": {"nn_accuracy": sum(trained) / n},
            "gunpoint: raw series": {"nn_accuracy": sum(raw) / n},
        }
        correct = {"gunpoint: trained encoder": {"nn_accuracy": trained}}
        correct["gunpoint: raw series"] = {"nn_accuracy": raw}
        return {"table": table, "correct": correct}

    same_count = [0] * 10 + [1] * 140  # 10 series each way: no difference
    fewer = [1] * 120 + [0] * 30  # 20 series only the trained one gets right
    rows = [row(same_count), row(fewer)]
    p = [mcnemar(torch.tensor(trained), torch.tensor(r)) for r in (same_count, fewer)]
    assert p[0] == 1.0 and p[1] < 0.05
    line = next(x for x in recipes._paired(rows) if x.startswith("| gunpoint (150) | 1-NN"))
    assert f"+0 / +20 | {p[0]:.2g} / {p[1]:.2g} (a difference in 1 of 2 seeds)" in line
    both = recipes._paired([row(fewer), row(fewer)])
    assert any("(trained ahead)" in x for x in both)
    floor = recipes._paired([{"table": r["table"]} for r in rows])
    assert "| vs untrained | p ≥ | vs raw | p ≥ |" in floor[3]
    line = next(x for x in floor if x.startswith("| gunpoint (150) | 1-NN"))
    assert "+0 / +20 | 1.91e-06 (mixed)" in line  # 2 / 2^20


def test_loose_pairs_share_the_digit_never_the_image_and_zero_shot_reads_class_means():
    import torch

    structured = _load("structured_losses")
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 2, 2, 1, 0])
    partner = structured.same_digit_partners(labels, seed=3)
    assert torch.equal(labels[partner], labels)
    assert not (partner == torch.arange(len(labels))).any()
    assert sorted(partner.tolist()) == list(range(len(labels)))  # each image used once
    assert torch.equal(partner, structured.same_digit_partners(labels, seed=3))
    # three classes along three axes, queries near the axis of their class or of another
    guide = torch.eye(3)[labels] + 0.1 * torch.randn(
        10, 3, generator=torch.Generator().manual_seed(0)
    )
    queries = torch.eye(3)[torch.tensor([0, 1, 2, 2])]
    accuracy = structured.zero_shot_accuracy(queries, guide, labels, torch.tensor([0, 1, 2, 0]))
    assert accuracy == 0.75


def test_the_longer_budget_runs_the_form_chosen_at_the_shared_one_and_its_rechosen_values():
    """BYOL's form is picked by validation at the shared budget; its momentum, then its
    learning rate on top of that, are picked again at the longer one, each only once every
    candidate has a validation run (the default's run carries the setting it builds on)."""
    catalogue = _load("loss_catalogue")

    def row(setting: str, epochs: int, knn: float, report: str = "validation") -> dict:
        key = {"dataset": "mnist", "loss": "byol", "seed": 0, "epochs": epochs}
        return key | {"setting": setting, "report": report, "knn": knn}

    rows = [row("", 10, 0.86), row("published", 10, 0.85), row("", 40, 0.99, "test")]
    assert catalogue._longer_settings(rows, 40) == {"byol": ""}
    rows += [row("momentum 0.99", 40, 0.90), row("momentum 0.999", 40, 0.92)]
    assert catalogue._longer_settings(rows, 40) == {"byol": ""}  # 0.996 has not run yet
    rows.append(row("", 40, 0.91))
    assert catalogue._longer_settings(rows, 40) == {"byol": "momentum 0.999"}
    assert catalogue._longer_settings(rows, 80) == {"byol": ""}  # nothing chosen at 80
    (line,) = [x for x in catalogue._rechosen(rows, ["byol"], 40) if x]
    assert "momentum: 0.99 0.9000, 0.996 0.9100, 0.999 0.9200; 0.999 chosen." in line
    # the learning rate builds on momentum 0.999, whose run stands for the default 2e-3
    rows.append(row("momentum 0.999, lr 0.004", 40, 0.95))
    assert catalogue._longer_settings(rows, 40) == {"byol": "momentum 0.999"}
    rows.append(row("momentum 0.999, lr 0.001", 40, 0.93))
    assert catalogue._longer_settings(rows, 40) == {"byol": "momentum 0.999, lr 0.004"}
    lines = [x for x in catalogue._rechosen(rows, ["byol"], 40) if x]
    assert "lr: 0.001 0.9300, 0.002 0.9200, 0.004 0.9500; 0.004 chosen." in lines[1]
    rows.append(row("published", 10, 0.87))  # a better published form moves the choice
    assert catalogue._longer_settings(rows, 40) == {"byol": "published"}
    assert catalogue._rechosen(rows, ["byol"], 40) == []  # no candidate ran on that form


def test_each_method_meets_nt_xent_in_the_form_validation_chose_not_the_better_test_one():
    catalogue = _load("loss_catalogue")

    def test_rows(knn: float) -> list[dict]:
        return [{"knn": knn}] * 3

    groups = {("nt_xent", ""): test_rows(0.95), ("siglip", ""): test_rows(0.94)}
    groups[("barlow_twins", "")] = test_rows(0.90)
    groups[("barlow_twins", "published")] = test_rows(0.96)
    validation = [
        {"dataset": "mnist", "loss": "barlow_twins", "seed": 0, "epochs": 10}
        | {"setting": setting, "report": "validation", "knn": knn}
        for setting, knn in (("", 0.93), ("published", 0.92))
    ]
    (line,) = [x for x in catalogue._against_nt_xent(groups, "mnist", validation) if x]
    assert "`barlow_twins` 5.0 points below with the shared head (more than 2 points below;" in line
    assert "validation shared head 0.9300, published 0.9200)" in line
    assert "`siglip` 1.0 points below with the shared head (within 2 points)" in line
    assert "`vicreg`" not in line  # no rows
    (waiting,) = [x for x in catalogue._against_nt_xent(groups, "mnist", validation[:1]) if x]
    assert "`barlow_twins` waits for the validation runs of its forms" in waiting


def test_the_svm_fold_section_lists_each_split_and_the_in_order_mean(tmp_path):
    import json

    folds = _load("svm_folds")
    path = tmp_path / "svm_folds.jsonl"

    def row(seed: int, in_order: float, shuffled: list[float]) -> dict:
        splits = {"in order": {"accuracy": in_order, "C": 10.0}}
        splits |= {f"shuffled {i}": {"accuracy": a, "C": 1.0} for i, a in enumerate(shuffled)}
        raw = {k: {"accuracy": 0.95, "C": 1.0} for k in splits}
        return {"dataset": "italy_power_demand", "seed": seed, "machine": "m"} | {
            "trained encoder": splits,
            "raw series": raw,
        }

    rows = [row(0, 0.96, [0.92, 0.96, 0.96, 0.92, 0.96]), row(1, 0.94, [0.94] * 5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = folds.section(path)
    assert (
        "| italy_power_demand, 0 | trained encoder | 0.960 (10) | 0.920 (1), 0.960 (1),"
        " 0.960 (1), 0.920 (1), 0.960 (1) | 0.920-0.960 |"
    ) in lines
    assert any(
        x.startswith(
            "italy_power_demand, folds in training order: the trained encoder"
            " 0.9500 ± 0.0141 over seeds 0, 1, the raw series 0.9500"
        )
        for x in lines
    )
    assert folds.section(tmp_path / "none.jsonl") == []


def test_targets_are_met_short_or_short_by_less_than_the_seed_spread():
    recipes = _load("recipes")
    assert recipes._against_target([0.96, 0.98], 0.96) == "met"
    assert recipes._against_target([0.80, 0.81, 0.82], 0.83) == "2.0 points short"
    wide = recipes._against_target([0.78, 0.81, 0.84], 0.83)
    assert wide == "2.0 points short, less than the seeds' spread (3.0): no difference"

    def table(full: float, at64: float, svm: float, nn: float) -> dict:
        return {
            "m @ 384 dims": {"mrr@10": full},
            "m @ 64 dims": {"mrr@10": at64},
            "gunpoint: trained encoder": {"nn_accuracy": nn, "svm_accuracy": svm},
        }

    tables = [table(0.80, 0.76, 0.95, 0.97), table(0.80, 0.78, 0.96, 0.98)]
    (line,) = [x for x in recipes._kept(tables) if x]
    assert line.startswith("m: mrr@10 kept at 64 dims: 96.2% of `m @ 384 dims`")
    assert "(per seed at 64 dims: 95.0%, 97.5%; target 95%: met)." in line
    (line,) = [x for x in recipes._series_targets(tables) if x]
    assert "gunpoint 1-NN accuracy 0.9750 ± 0.0071 (n=2) against 0.96: met" in line  # 1-NN wins
    assert "arrowhead" not in line  # no rows for it
    assert recipes._series_targets([{"x": {"nn_accuracy": 1.0}}]) == []


def test_the_longer_budget_table_gives_each_gap_to_nt_xent_in_knn_and_probe_points(tmp_path):
    import json

    catalogue = _load("loss_catalogue")
    catalogue.LONGER = tmp_path / "longer.jsonl"
    rows = [
        {"dataset": "mnist", "loss": loss, "seed": seed, "epochs": 40, "setting": ""}
        | {"report": "test", "knn": knn + 0.01 * seed, "probe": probe}
        for loss, knn, probe in (("nt_xent", 0.95, 0.97), ("byol", 0.90, 0.96))
        for seed in (0, 1, 2)
    ]
    catalogue.LONGER.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = catalogue._longer_section("mnist")
    assert "### Longer budget: 40 epochs" in lines
    (byol,) = [x for x in lines if x.startswith("| BYOL")]
    assert byol.endswith("| -5.0 (more than 2 points below) | -1.0 |")
    (base,) = [x for x in lines if x.startswith("| NT-Xent")]
    assert base.endswith("|  |  |")


def test_a_longer_budget_can_keep_the_choices_validation_made_at_a_shorter_one(tmp_path):
    import json

    catalogue = _load("loss_catalogue")
    catalogue.LONGER = tmp_path / "longer.jsonl"
    key = {"dataset": "mnist", "loss": "byol", "seed": 0, "epochs": 40, "report": "validation"}
    scores = {"momentum 0.99": 0.94, "": 0.93, "momentum 0.999": 0.92}
    scores |= {"momentum 0.99, lr 0.001": 0.90, "momentum 0.99, lr 0.004": 0.91}
    rows = [key | {"setting": setting, "knn": knn} for setting, knn in scores.items()]
    rows += [
        {"dataset": "mnist", "loss": loss, "seed": seed, "epochs": 80, "setting": setting}
        | {"report": "test", "knn": knn, "probe": 0.97, "chosen_at": 40}
        for loss, setting, knn in (("nt_xent", "", 0.97), ("byol", "momentum 0.99", 0.96))
        for seed in (0, 1, 2)
    ]
    catalogue.LONGER.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert catalogue._chosen_at(rows, 80) == 40 and catalogue._chosen_at(rows, 40) == 40
    lines = catalogue._longer_section("mnist")
    assert "### Longer budget: 80 epochs" in lines
    assert any("--longer 80 --chosen-at 40`" in x for x in lines)
    (byol,) = [x for x in lines if x.startswith("| BYOL")]
    assert "| shared head, momentum 0.99 |" in byol and "-1.0 (within 2 points)" in byol
    assert lines[-1] == (
        "The options `byol` chose again on the validation split at 40 epochs (above) stand at"
        " 80 epochs."
    )
