"""Workers in separate processes: exactly N finished trials, none lost and none doubled, on
the embedded journal and on a real PostgreSQL server, also when a worker is SIGKILLed in
the middle of a trial (its trial is failed and retried). The heartbeat path is checked
against the real server too: a silent trial on another host is failed and re-queued."""
import signal
import socket
import subprocess
import time

import optuna
import pytest
from optuna.trial import TrialState
from tuning_helpers import prepare, start, tune_command

from bench.tuning.storage import STALE_AFTER_HEARTBEATS, open_storage
from bench.tuning.worker import WORKER, fail_dead_trials

WAIT_S = 300


def load(url: str, name: str = "synthetic-scl") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def journal(root) -> str:
    return str(root / "results" / "tuning" / "studies.journal")


def open_study_when_ready(storage, name: str = "synthetic-scl") -> optuna.Study | None:
    if storage is None:
        return None
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def journal_storage(root):
    """The default journal of the results under ``root``; None until a worker has created it."""
    if not (root / "results" / "tuning" / "studies.journal").is_file():
        return None
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal(root)))


def wait_for_running_trial_of(storage_factory, pid: int, deadline: float) -> int:
    """The number of a trial that worker ``pid`` is running (polls the study)."""
    while time.monotonic() < deadline:
        study = open_study_when_ready(storage_factory())
        if study is not None:
            for trial in study.get_trials(states=(TrialState.RUNNING,)):
                if trial.user_attrs.get(WORKER, {}).get("pid") == pid:
                    return trial.number
        time.sleep(0.2)
    raise AssertionError(f"worker {pid} never ran a trial")


def assert_exact(study: optuna.Study, trials: int, killed: int | None = None) -> None:
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == trials, states
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states, states
    if killed is None:
        assert len(states) == trials, states
    else:
        failed = [t for t in study.trials if t.state == TrialState.FAIL]
        assert [t.number for t in failed] == [killed], states
        retry = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed]
        assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and retry[0].params == failed[0].params


def kill_one_of_two(root, trials: int, steps: int, storage_args: list[str], storage_factory):
    """Two single-worker processes on one study; SIGKILL the first in the middle of a trial."""
    prepare(root)
    command = tune_command(root, trials, steps, *storage_args)
    victim, survivor = start(command, root / "victim.log"), start(command, root / "survivor.log")
    try:
        killed = wait_for_running_trial_of(storage_factory, victim.pid, time.monotonic() + WAIT_S)
        time.sleep(0.5)  # into the trial: training has started
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert survivor.wait(timeout=WAIT_S) == 0, (root / "survivor.log").read_text()[-3000:]
    finally:
        for process in (victim, survivor):
            if process.poll() is None:
                process.kill()
    return killed


def test_two_worker_processes_finish_exactly_n_trials(tmp_path):
    prepare(tmp_path)
    result = subprocess.run(tune_command(tmp_path, 4, 3, "--workers", "2"), capture_output=True, text=True,
                            timeout=WAIT_S)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    study = load(journal_storage(tmp_path))
    assert_exact(study, 4)
    assert len({t.user_attrs[WORKER]["pid"] for t in study.trials}) == 2   # both workers took trials


def test_a_sigkilled_worker_loses_only_its_trial_which_is_retried(tmp_path):
    killed = kill_one_of_two(tmp_path, 4, 60, [], lambda: journal_storage(tmp_path))
    assert_exact(load(journal_storage(tmp_path)), 4, killed)


def test_postgres_two_workers_one_killed_still_exactly_n(tmp_path, postgres_url):
    study_args = ["--storage", postgres_url, "--heartbeat", "1"]
    killed = kill_one_of_two(tmp_path, 4, 60, study_args, lambda: postgres_url)
    assert_exact(load(postgres_url), 4, killed)
    assert not (tmp_path / "results" / "tuning" / "studies.journal").exists()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # this test asks outside Study.optimize on purpose
def test_postgres_heartbeat_fails_and_requeues_a_silent_trial_of_another_host(tmp_path, postgres_url):
    storage = open_storage(postgres_url, tmp_path, heartbeat_s=1)
    study = optuna.create_study(study_name="heartbeat", storage=storage.storage, direction="maximize")
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr(WORKER, {"host": socket.gethostname() + "-elsewhere", "pid": 1, "pid_start": None})
    storage.storage.record_heartbeat(trial._trial_id)
    assert fail_dead_trials(study) == []                      # another host's live trial is left alone
    time.sleep(STALE_AFTER_HEARTBEATS * 1 + 1.5)
    fail_dead_trials(study)
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {0: TrialState.FAIL, 1: TrialState.WAITING}
    assert study.trials[1].params == trial.params and study.trials[1].system_attrs["failed_trial"] == 0


@pytest.mark.parametrize("scheme", ["mysql://user@localhost/db", "redis://localhost"])
def test_unknown_storage_schemes_are_named(tmp_path, scheme):
    from bench.errors import ConfigError  # noqa: PLC0415

    with pytest.raises(ConfigError, match="unknown storage scheme"):
        open_storage(scheme, tmp_path, 1)


def test_rerunning_after_the_only_worker_was_killed_continues_and_resumes_its_checkpoint(tmp_path):
    from bench.runner import read_record  # noqa: PLC0415

    prepare(tmp_path)
    command = tune_command(tmp_path, 2, 60)
    victim = start(command, tmp_path / "victim.log")
    try:
        killed = wait_for_running_trial_of(lambda: journal_storage(tmp_path), victim.pid, time.monotonic() + WAIT_S)
        checkpoints = tmp_path / "results" / "tuning" / "checkpoints"
        deadline = time.monotonic() + WAIT_S
        while not list(checkpoints.glob("*.pt")) and time.monotonic() < deadline:
            time.sleep(0.1)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    again = subprocess.run(command, capture_output=True, text=True, timeout=WAIT_S)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"trial {killed}: its worker died; failed and re-queued" in again.stdout
    study = load(journal_storage(tmp_path))
    assert_exact(study, 2, killed)
    retry = next(t for t in study.trials if t.system_attrs.get("failed_trial") == killed)
    record = read_record(tmp_path / "results" / retry.user_attrs["run_dir"])
    assert record["training"]["resumed_from"] > 0          # the retry went on from the dead trial's checkpoint
