"""The worker loop: finish exactly N trials of a study across every worker, on one host or many.

Each worker repeats, holding the study's claim lock (bench.tuning.storage) only for step 1-3:

1. fail the trials whose worker is dead: on RDB storage those whose heartbeat stopped
   (Optuna's ``fail_stale_trials``); on any storage a running trial whose worker (host, pid,
   pid start) is this host's and no longer runs, or that names no worker. Each is re-queued
   once more (up to ``MAX_RETRIES``) with its parameters, as Optuna's
   RetryHeartbeatStaleTrialCallback does, so the retry resumes the dead trial's checkpoint;
2. count: finished (complete + pruned) trials, running ones, waiting ones (re-queued);
3. stop once N trials have finished; take a waiting trial, or a new one while finished +
   running < N; else (the last trials are running elsewhere) wait and look again, so a
   trial whose worker dies late is still retried;
4. run the trial (heartbeat on RDB storage) and tell the study.

Counting and asking under one lock is what makes the total exact: no two workers can both
see the last free slot. A trial that fails by a user error (a NaN loss, say) stays failed
and a new trial takes its slot, up to N such failures; an interrupted trial (Ctrl-C) is
re-queued so that the next ``bench tune`` resumes it.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
import torch
from optuna.storages import RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import TrialState
from rich.console import Console

from bench.errors import BenchError, DataError
from bench.interrupts import exit_status, terminate_raises
from bench.locks import describe, is_stale, this_process
from bench.tuning.objective import run_trial
from bench.tuning.storage import MAX_RETRIES, StudyStorage, open_storage
from bench.tuning.study import TuneSpec, make_pruner, make_sampler, open_study

POLL_SECONDS = 1.0
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
WORKER = "worker"
ERROR = "error"


def _retry(study: optuna.Study, trial_id: int, reason: str) -> None:
    """Fail a running trial (if it still runs) and re-queue its parameters."""
    storage = study._storage  # noqa: SLF001 - Optuna's own callbacks take the study and use its storage
    try:
        storage.set_trial_system_attr(trial_id, "failed_because", reason)
        if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            return
    except optuna.exceptions.UpdateFinishedTrialError:  # another worker failed it first
        return
    frozen = storage.get_trial(trial_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(study, frozen)


def fail_dead_trials(study: optuna.Study) -> list[int]:
    """Fail and re-queue the running trials whose worker is gone; return their numbers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(study)  # RDB heartbeats; nothing on the journal
    dead = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(WORKER)
        if owner is None or is_stale(owner):
            reason = "no worker" if owner is None else f"its worker ({describe(owner)}) died"
            _retry(study, trial._trial_id, reason)  # noqa: SLF001 - the storage addresses trials by id
            dead.append(trial.number)
    return dead


class StudyFinished(Exception):  # noqa: N818 - the loop's normal end
    """The study has its N finished trials."""


def claim(study: optuna.Study, spec: TuneSpec, storage: StudyStorage, console: Console) -> optuna.Trial | None:
    """The next trial for this worker, or None to wait (the last trials run elsewhere); raises
    StudyFinished once the study has its N finished trials."""
    with storage.claim(spec.study_name):
        for number in fail_dead_trials(study):
            console.print(f"trial {number}: its worker died; failed and re-queued")
        trials = study.get_trials(deepcopy=False)
        states = Counter(trial.state for trial in trials)
        finished = sum(states[state] for state in FINISHED)
        if finished >= spec.trials:
            raise StudyFinished
        errors = sum(1 for t in trials if t.state == TrialState.FAIL and ERROR in t.user_attrs)
        if errors >= spec.trials:
            raise DataError(f"study '{spec.study_name}': {errors} trials failed by errors (the last: "
                            f"{[t for t in trials if ERROR in t.user_attrs][-1].user_attrs[ERROR]}); fix that and rerun")
        if not states[TrialState.WAITING] and finished + states[TrialState.RUNNING] >= spec.trials:
            return None
        study.sampler = make_sampler(spec.seed, spec.trials, len(trials))
        with warnings.catch_warnings():  # "heartbeat is meant for Study.optimize": this loop sends them itself
            warnings.simplefilter("ignore", UserWarning)
            trial = study.ask()
        trial.set_user_attr(WORKER, this_process())
        return trial


@contextmanager
def heartbeat(storage: StudyStorage, trial: optuna.Trial, interval_s: int) -> Iterator[None]:
    """Record the trial's heartbeat every ``interval_s`` seconds while it runs (RDB storage)."""
    if not storage.has_heartbeat:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.storage.record_heartbeat(trial._trial_id)  # noqa: SLF001
            if stop.wait(interval_s):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_claimed(study: optuna.Study, trial: optuna.Trial, spec: TuneSpec, storage: StudyStorage,
                console: Console) -> None:
    """Run one claimed trial and tell the study how it ended."""
    console.print(f"[bold]{spec.study_name}[/]: trial {trial.number}")
    try:
        with heartbeat(storage, trial, spec.heartbeat_s):
            value = run_trial(trial, spec, console)
    except optuna.TrialPruned as pruned:
        study.tell(trial, state=TrialState.PRUNED)
        console.print(f"trial {trial.number}: {pruned}")
        return
    except KeyboardInterrupt:                # Ctrl-C, SIGTERM (RunInterrupted): the next bench tune resumes it
        _retry(study, trial._trial_id, "interrupted")  # noqa: SLF001
        raise
    except BenchError as err:
        trial.set_user_attr(ERROR, str(err))
        study.tell(trial, state=TrialState.FAIL)
        console.print(f"[red]trial {trial.number} failed[/]: {err}")
        return
    study.tell(trial, value)
    console.print(f"trial {trial.number}: objective {value:.2f}")


def work(spec: TuneSpec, console: Console) -> None:
    """One worker: claim and run trials until the study has its N finished trials."""
    storage = open_storage(spec.storage, spec.results, spec.heartbeat_s)
    study = optuna.load_study(study_name=spec.study_name, storage=storage.storage,
                              pruner=make_pruner(spec.pruner, spec.base_config().trainer.steps))
    while True:
        try:
            trial = claim(study, spec, storage, console)
        except StudyFinished:
            return
        if trial is None:
            time.sleep(POLL_SECONDS)
            continue
        run_claimed(study, trial, spec, storage, console)


def _worker_process(spec: TuneSpec, threads: int, index: int) -> None:
    """A spawned worker: its share of the cores and, on a multi-GPU host, GPU ``index`` modulo
    their number (trainer.device=auto means the current CUDA device); a user error is one line
    and exit status 2."""
    torch.set_num_threads(threads)
    if torch.cuda.is_available():
        torch.cuda.set_device(index % torch.cuda.device_count())
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    console = Console(soft_wrap=True)
    try:
        with terminate_raises():
            work(spec, console)
    except BenchError as err:
        print(f"error: {err}", flush=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt as stop:
        print(str(stop) or "interrupted", flush=True)
        raise SystemExit(exit_status(stop)) from None


def tune(spec: TuneSpec, console: Console | None = None) -> optuna.Study:
    """Check the request, create or load the study, and run ``spec.workers`` workers (this
    process alone for one; spawned processes for more, each with its share of the cores)."""
    console = console or Console()
    spec.check()
    spec.base_config()                       # unknown names and bad values before anything is written
    storage = open_storage(spec.storage, spec.results, spec.heartbeat_s)
    optuna.logging.set_verbosity(optuna.logging.WARNING)   # the progress lines say what happens
    with storage.claim(spec.study_name):
        open_study(spec, storage)
    if spec.workers == 1:
        work(spec, console)
    else:
        threads = max(1, (os.cpu_count() or 1) // spec.workers)
        context = multiprocessing.get_context("spawn")
        processes = [context.Process(target=_worker_process, args=(spec, threads, k), name=f"tune-worker-{k}")
                     for k in range(spec.workers)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        failed = [p.exitcode for p in processes if p.exitcode != 0]
        if failed:
            raise DataError(f"{len(failed)} of {spec.workers} workers ended with status {failed[0]} (their lines "
                            "are above); run the same command again to continue the study")
    return optuna.load_study(study_name=spec.study_name, storage=storage.storage)
