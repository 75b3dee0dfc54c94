"""bench tune in one process: search spaces, a real 3-trial study, reuse of finished trial
runs, pruning recorded as pruned, the tuned config for bench suite --tuned, TUNING.md."""
import math
import re
from dataclasses import replace

import optuna
import pytest
from tuning_helpers import TUNE_RUN

from bench.errors import ConfigError
from bench.registry import METHODS
from bench.run_config import resolve
from bench.runner import execute, finished_runs, read_record
from bench.tuning.objective import INTERMEDIATE_METRICS, objective_value, pruning_watch, run_trial
from bench.tuning.report import best_trial, write_tuning
from bench.tuning.space import SpaceRecorder, describe_space, suggest
from bench.tuning.study import TuneSpec, report_every
from bench.tuning.tuned import tuned_values
from bench.tuning.worker import tune

TRAINABLE = [name for name in METHODS.names() if METHODS.get(name).trainable]


def some_point(space: dict) -> dict:
    """A point inside the space: each float or int at its upper bound, each categorical's last choice."""
    return {name: spec["choices"][-1] if spec["kind"] == "categorical" else spec["high"]
            for name, spec in space.items()}


@pytest.mark.parametrize("method", TRAINABLE)
def test_every_search_space_builds_a_valid_config_with_a_fixed_trial(method):
    space = describe_space(method)
    assert {"trainer.lr", "trainer.weight_decay"} <= set(space)
    values = suggest(optuna.trial.FixedTrial(some_point(space)), method)
    resolved = resolve(method=method, values=values)
    for name, value in some_point(space).items():
        section, field = name.split(".", 1) if name.startswith("trainer.") else ("method", name)
        assert getattr(resolved.trainer if section == "trainer" else resolved.method, field) == value


@pytest.mark.parametrize("method", TRAINABLE)
def test_every_default_config_lies_inside_its_search_space(method):
    """Trial 0 of a study is the untuned config, so every default must be a point of the space."""
    from bench.tuning.space import parameter_defaults  # noqa: PLC0415

    space = describe_space(method)
    for name, value in parameter_defaults(resolve(method=method), space).items():
        spec = space[name]
        assert value in spec["choices"] if spec["kind"] == "categorical" else spec["low"] <= value <= spec["high"]


def test_the_trainer_space_is_the_same_for_every_method():
    shared = [{k: v for k, v in describe_space(m).items() if k.startswith("trainer.")} for m in TRAINABLE]
    assert all(space == shared[0] for space in shared)


def test_the_recorder_sees_every_suggestion_kind():
    recorder = SpaceRecorder()
    recorder.suggest_int("n", 1, 4)
    recorder.suggest_categorical("c", ("a", "b"))
    recorder.suggest_float("x", 0.1, 1.0, log=True)
    assert recorder.space == {"n": {"kind": "int", "low": 1, "high": 4, "log": False, "step": 1},
                              "c": {"kind": "categorical", "choices": ["a", "b"]},
                              "x": {"kind": "float", "low": 0.1, "high": 1.0, "log": True, "step": None}}


def spec_for(tmp_path, **changes) -> TuneSpec:
    return replace(TuneSpec(method="scl", trials=3, steps=4, pruner="none", overrides=tuple(TUNE_RUN),
                            results=tmp_path / "results", data=tmp_path / "data"), **changes)


def test_a_three_trial_study_completes_and_its_best_comes_from_real_run_records(tmp_path):
    spec = spec_for(tmp_path)
    study = tune(spec)
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(study.trials) == len(complete) == 3
    store_splits = None
    for trial in complete:
        record = read_record(spec.results / trial.user_attrs["run_dir"])
        assert record["split"] == "tune" and trial.value == pytest.approx(objective_value(record["metrics"]))
        assert record["config"]["trainer"]["lr"] == trial.params["trainer.lr"]
        assert record["config"]["method"]["temperature"] == trial.params["temperature"]
        store_splits = record["data"]["splits"]
    assert not set(store_splits["train"]) & set(store_splits["tune"]) and len(store_splits["tune"]) == 1
    best = best_trial(study)
    assert best.value == max(t.value for t in complete)
    first = study.trials[0]
    assert first.user_attrs["defaults"] and first.params == study.user_attrs["defaults"]
    assert first.params["trainer.lr"] == 1e-3 and first.params["temperature"] == 0.1   # synthetic lr, SCL's tau
    values, provenance = tuned_values("scl", None, "synthetic", None, spec.results)
    assert provenance["trial"] == best.number and provenance["objective"] == best.value
    assert values == suggest(optuna.trial.FixedTrial(best.params), "scl")
    assert finished_runs(spec.results) == []          # trial runs stay out of the leaderboard's runs

    # a rerun continues the study: it is complete, so nothing is added
    assert len(tune(spec).trials) == 3
    # the same budget under another name asks the same configs: their runs are reused, not retrained
    again = tune(replace(spec, study="again"))
    assert [t.params for t in again.trials] == [t.params for t in study.trials]
    assert all(t.user_attrs["reused"] for t in again.trials)
    assert [t.value for t in again.trials] == [t.value for t in study.trials]

    page = write_tuning(spec.results)
    text = page.read_text()
    assert "| synthetic-scl | 3 | 0 | 0 | " in text and f"{best.value:.2f}" in text
    assert (spec.results / "tuning" / "figures" / "synthetic-scl_history.png").is_file()


def test_a_study_with_another_budget_is_refused(tmp_path):
    tune(spec_for(tmp_path, trials=1))
    with pytest.raises(ConfigError, match="has trials=1, this command asks for 2"):
        tune(spec_for(tmp_path, trials=2))
    with pytest.raises(ConfigError, match="has steps=4, this command asks for 5"):
        tune(spec_for(tmp_path, trials=1, steps=5))


def test_a_pruned_trial_is_recorded_as_pruned_without_weights_or_checkpoint(tmp_path):
    spec = spec_for(tmp_path, steps=6)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1000.0))
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned):
        run_trial(trial, spec, None)
    directory = spec.results / trial.user_attrs["run_dir"]
    record = read_record(directory)
    every = report_every(6)
    assert record["status"] == "pruned" and record["metrics"] == {} and record["pruned"]["step"] == every
    assert record["pruned"]["metrics"] == list(INTERMEDIATE_METRICS)
    assert list(trial.storage.get_trial(trial._trial_id).intermediate_values) == [every]
    assert not (directory / "model.pt").exists() and not list((spec.results / "tuning" / "checkpoints").glob("*"))
    # the same config again finds the pruned record: pruned again, not retrained
    again = study.ask(fixed_distributions=None)
    again_values = suggest(optuna.trial.FixedTrial(trial.params), "scl")
    outcome = execute(spec.base_config(again_values), spec.tuning_root, spec.data, split="tune",
                      watch=pruning_watch(again, spec.base_config(again_values), {}))
    assert outcome.skipped and outcome.pruned


def test_the_intermediate_objective_is_the_mean_of_its_two_metrics(tmp_path):
    spec = spec_for(tmp_path, steps=6)
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    reported = {}
    resolved = spec.base_config(suggest(trial, "scl"))
    outcome = execute(resolved, spec.tuning_root, spec.data, split="tune", watch=pruning_watch(trial, resolved, reported))
    assert sorted(reported) == [2, 4] and not outcome.pruned   # every 6 // 3 steps, not at the last step
    assert all(0.0 <= value <= 100.0 and math.isfinite(value) for value in reported.values())


def test_nothing_to_tune_and_fixed_search_parameters_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="nothing to tune"):
        spec_for(tmp_path, method="random").check()
    with pytest.raises(ConfigError, match="--set method.temperature fixes a parameter"):
        spec_for(tmp_path, overrides=(*TUNE_RUN, "method.temperature=0.2")).check()


def test_suite_tuned_retrains_the_best_config_on_val_and_the_leaderboard_tells_it_apart(tmp_path, monkeypatch):
    from bad_inputs import sets  # noqa: PLC0415

    from bench.cli import main  # noqa: PLC0415
    from bench.publish import publish  # noqa: PLC0415
    from bench.report import leaderboard_text  # noqa: PLC0415

    monkeypatch.chdir(tmp_path)
    study = tune(spec_for(tmp_path, trials=2, results=tmp_path / "results", data=tmp_path / "data"))
    best = best_trial(study)
    common = [*sets([*TUNE_RUN, "trainer.steps=4"]), "--methods", "scl", "--seeds", "0", "1"]
    assert main(["suite", *common]) == 0
    assert main(["suite", "--tuned", *common]) == 0
    records = [read_record(run) for run in finished_runs(tmp_path / "results")]
    tuned = [r for r in records if r.get("tuned")]
    assert len(records) == 4 and len(tuned) == 2
    for record in tuned:
        assert record["split"] == "val" and record["tuned"]["trial"] == best.number
        assert record["config"]["method"]["temperature"] == best.params["temperature"]
        assert record["config"]["trainer"]["lr"] == best.params["trainer.lr"]
    board = leaderboard_text(tmp_path / "results")
    assert "| scl (tuned) |" in board and "| scl |" in board and "2 (0,1)" in board
    page = (tmp_path / "results" / "TUNING.md")
    assert main(["report"]) == 0 and "## Default vs tuned on val" in page.read_text()
    published = tmp_path / "published"
    publish(tmp_path / "results", published)
    assert (published / "tuning" / "studies.journal").read_bytes() == (
        tmp_path / "results" / "tuning" / "studies.journal").read_bytes()
    assert len(list((published / "tuning" / "runs").rglob("record.json"))) == 2
    assert not list((published / "tuning").rglob("*.pt"))


def test_a_variants_defining_fields_stay_pinned_while_the_rest_is_searched():
    space = describe_space("lac", "t0.6")
    assert "smoothing" not in space and "temperature" in space
    values = suggest(optuna.trial.FixedTrial(some_point(space)), "lac", "t0.6")
    assert values["method"]["smoothing"] == 0.6 and values["method"]["temperature"] == space["temperature"]["high"]


def _study_with_one_trial(storage, name: str, method: str, variant: str | None, value: float) -> dict:
    """A study holding one complete trial at a point of the method's (variant's) space, added
    through Optuna's own API (no training): what bench tune leaves behind, for the readers."""
    space = describe_space(method, variant)
    params = some_point(space)
    recorder_trial = optuna.trial.FixedTrial(params)
    distributions = {}
    for key, spec in space.items():
        distributions[key] = (optuna.distributions.CategoricalDistribution(spec["choices"]) if spec["kind"] == "categorical"
                              else optuna.distributions.FloatDistribution(spec["low"], spec["high"], log=spec["log"]))
    study = optuna.create_study(study_name=name, storage=storage.storage, direction="maximize")
    study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
    return suggest(recorder_trial, method, variant)


def test_ablate_tuned_runs_every_row_with_its_own_studys_best_config(tmp_path):
    from bench.ablate import ABLATIONS, plan  # noqa: PLC0415
    from bench.tuning.storage import open_storage  # noqa: PLC0415

    storage = open_storage(None, tmp_path, 10)
    variants = ABLATIONS["lrprop"].variants
    expected = {v: _study_with_one_trial(storage, f"synthetic-lrprop+{v}", "lrprop", v, 50.0) for v in variants[:-1]}
    last = re.escape(variants[-1])
    with pytest.raises(ConfigError, match=f"no study 'synthetic-lrprop\\+{last}'.*bench tune --method lrprop --variant {last}"):
        plan("lrprop", "synthetic", [0], [], tuned=True, results_root=tmp_path)
    expected[variants[-1]] = _study_with_one_trial(storage, f"synthetic-lrprop+{variants[-1]}", "lrprop",
                                                   variants[-1], 60.0)
    planned = plan("lrprop", "synthetic", [0, 1], [], tuned=True, results_root=tmp_path)
    assert len(planned) == 6
    for run in planned:
        values = expected[run.resolved.variant]
        assert run.tuned["study"] == f"synthetic-lrprop+{run.resolved.variant}" and run.tuned["trial"] == 0
        assert run.resolved.trainer.lr == values["trainer"]["lr"]
        assert all(getattr(run.resolved.method, k) == v for k, v in values["method"].items())
