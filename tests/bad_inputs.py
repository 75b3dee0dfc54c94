"""The bad-input table: every kind of bad value or broken file a user can hand `bench`,
each with the text its one error line must contain (the key or the file it names).

Used by tests/test_bad_input.py (in-process, every row: exit 2, one line, nothing written
under results/ or data/) and by tests/bad_input_table.py (`make badinput`: the real command
in a subprocess per row, printed as a table).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.atomic import torch_bytes

TINY_DATA = ["dataset.train_per_action=2", "dataset.val_per_action=1", "dataset.min_length=10",
             "dataset.max_length=12", "dataset.image_size=16", "dataset.actions=[squat]"]
TINY_RUN = [*TINY_DATA, "encoder.image_size=16", "encoder.embed_dim=8", "encoder.hidden=8", "encoder.layers=1",
            "encoder.heads=2", "encoder.cnn_channels=[4]", "trainer.steps=3", "protocol.few_shot=[1]",
            "protocol.few_shot_episodes=2", "protocol.fraction_draws=1", "protocol.tau_stride=2", "protocol.ap_stride=2", "method.frames=4"]


def sets(items: list[str]) -> list[str]:
    return [part for item in items for part in ("--set", item)]


RUN = ["run", "--method", "scl", *sets(TINY_RUN)]
"""A tiny real run (about 5 s): scl on 2 + 1 synthetic videos of 10-12 frames, 3 steps."""


def prepare_data(cwd: Path) -> Path:
    """Generate the tiny synthetic store under cwd/data; return its root."""
    from bench.run_config import resolve  # noqa: PLC0415 - imported when a case needs data
    from bench.runner import open_dataset  # noqa: PLC0415

    return open_dataset(resolve(method="scl", overrides=TINY_RUN), cwd / "data").root


def run_paths(cwd: Path, extra: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """(checkpoint, run directory) of the tiny run (with ``extra`` overrides), its data prepared."""
    from bench.run_config import resolve  # noqa: PLC0415
    from bench.runner import open_dataset, run_directory, run_id  # noqa: PLC0415

    resolved = resolve(method="scl", overrides=[*TINY_RUN, *extra])
    identifier = run_id(resolved, open_dataset(resolved, cwd / "data"))
    return cwd / "results" / "checkpoints" / f"{identifier}.pt", run_directory(cwd / "results", resolved, identifier)


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def first_frames(cwd: Path) -> Path:
    return sorted((prepare_data(cwd) / "frames").glob("*.npy"))[0]


def frames_of_shape(shape: tuple[int, ...]) -> Callable[[Path], None]:
    def setup(cwd: Path) -> None:
        np.save(first_frames(cwd), np.zeros(shape, np.uint8))
    return setup


def wrong_resolution(cwd: Path) -> None:
    path = first_frames(cwd)
    length = np.load(path, mmap_mode="r").shape[0]
    np.save(path, np.zeros((length, 24, 24, 3), np.uint8))


@dataclass
class Case:
    kind: str
    args: list[str]
    needle: str
    setup: Callable[[Path], None] | None = None
    needs_no_gpu: bool = False
    writes_before: bool = field(default=False)
    """True when setup itself writes under results/ or data/ (the check is then: unchanged)."""


def _checkpoint(content: bytes) -> Callable[[Path], None]:
    def setup(cwd: Path) -> None:
        write(run_paths(cwd)[0], content)
    return setup


def _record(cwd: Path) -> None:
    write(run_paths(cwd)[1] / "record.json", '{"run_id": "trunc')


def _study_of_one_trial(cwd: Path) -> None:
    """A study synthetic-scl whose budget is 1 trial (the case then asks for 2)."""
    from bench.tuning.storage import open_storage  # noqa: PLC0415 - imported when the case runs
    from bench.tuning.study import TuneSpec, open_study  # noqa: PLC0415

    spec = TuneSpec(method="scl", trials=1, results=cwd / "results")
    open_study(spec, open_storage(None, spec.results, spec.heartbeat_s))


TUNE = ["tune", "--method", "scl", "--trials", "2"]

CASES = [
    Case("unknown method", ["run", "--method", "lrpropp"], "unknown method 'lrpropp'"),
    Case("unknown config key", ["run", "--set", "method.temprature=0.2"], "method.temprature"),
    Case("value of the wrong type", ["run", "--set", "trainer.steps=many"], "trainer.steps='many'"),
    Case("override without a section", ["run", "--set", "steps=3"], "needs a section"),
    Case("steps <= 0", ["run", "--set", "trainer.steps=0"], "trainer.steps=0 must be >= 1"),
    Case("negative learning rate", ["run", "--set", "trainer.lr=-0.001"], "trainer.lr=-0.001 must be > 0"),
    Case("negative weight decay", ["run", "--set", "trainer.weight_decay=-1"], "trainer.weight_decay=-1"),
    Case("NaN (YAML .nan)", ["run", "--set", "method.temperature=.nan"], "method.temperature=nan is not a finite"),
    Case("infinity in a YAML file", ["run", "--config", "inf.yaml"], "trainer.lr=inf is not a finite",
         lambda cwd: write(cwd / "inf.yaml", "trainer:\n  lr: .inf\n")),
    Case("checkpoint_every <= 0", ["run", "--set", "trainer.checkpoint_every=0"], "trainer.checkpoint_every=0"),
    Case("heads do not divide the width", ["run", "--set", "encoder.heads=3"], "encoder.heads=3 does not divide"),
    Case("cuda without a GPU", ["run", "--set", "trainer.device=cuda"], "trainer.device=cuda but this machine has 0",
         needs_no_gpu=True),
    Case("unknown device", ["run", "--set", "trainer.device=tpu"], "trainer.device='tpu' is not a device name"),
    Case("negative seed", ["run", "--seed", "-1"], "seed=-1 must be in [0, 4294967295]"),
    Case("seed 1e20 (an integer)", ["run", "--set", "seed=100000000000000000000"], "seed=100000000000000000000"),
    Case("seed 1e20 (YAML float)", ["run", "--config", "seed.yaml"], "seed=1e+20 has the wrong type",
         lambda cwd: write(cwd / "seed.yaml", "seed: 1e20\n")),
    Case("YAML seed differs from --seed", ["run", "--seed", "1", "--config", "seed.yaml"],
         "--seed 1 but the config sets seed=2", lambda cwd: write(cwd / "seed.yaml", "seed: 2\n")),
    Case("config names another method", ["run", "--method", "scl", "--config", "tcc.yaml"],
         "--method scl but the config sets method.name='tcc'",
         lambda cwd: write(cwd / "tcc.yaml", "method:\n  name: tcc\n")),
    Case("a 100 kB value", ["run", "--set", "method.temperature=" + "9x" * 50_000], f"({100_000 + 2} characters)"),
    Case("a 100 kB name", ["run", "--method", "m" * 100_000], "(100002 characters)"),
    Case("few_shot above every action's training videos", [*RUN, "--set", "protocol.few_shot=[1,5]"],
         "protocol.few_shot=[1, 5] asks for 5 train videos", prepare_data, writes_before=True),
    Case("few_shot above the evaluation videos a preset fits on (lav)",
         [*RUN, "--protocol", "lav", "--set", "protocol.few_shot=[2]"],
         "protocol.few_shot=[2] asks for 2 val videos", prepare_data, writes_before=True),
    Case("config file missing", ["run", "--config", "missing.yaml"], "missing.yaml does not exist"),
    Case("config file is a directory", ["run", "--config", "configs"], "configs is a directory",
         lambda cwd: (cwd / "configs").mkdir()),
    Case("config file is binary", ["run", "--config", "model.yaml"], "model.yaml is not text",
         lambda cwd: write(cwd / "model.yaml", bytes(range(256)) * 4)),
    Case("config file is not YAML", ["run", "--config", "bad.yaml"], "bad.yaml is not valid YAML at line",
         lambda cwd: write(cwd / "bad.yaml", "method: [unclosed\n")),
    Case("empty checkpoint", RUN, ".pt is empty (0 bytes); delete this checkpoint", _checkpoint(b""),
         writes_before=True),
    Case("corrupt checkpoint", RUN, "delete this checkpoint to restart", _checkpoint(b"PK\x03\x04 not a zip"),
         writes_before=True),
    Case("foreign checkpoint", RUN, "it is not a training checkpoint",
         _checkpoint(torch_bytes({"weights": 1})), writes_before=True),
    Case("corrupt run record", RUN, "record.json is corrupt", _record, writes_before=True),
    Case("empty frame array", RUN, ".npy is empty (0 bytes)", lambda cwd: write(first_frames(cwd), b""),
         writes_before=True),
    Case("frame array of the wrong shape", RUN, "holds uint8 (5, 16, 16, 3) but the manifest says",
         frames_of_shape((5, 16, 16, 3)), writes_before=True),
    Case("frame array of the wrong resolution", RUN, "24, 24, 3) but the manifest says", wrong_resolution, writes_before=True),
    Case("corrupt manifest", RUN, "manifest.json is corrupt",
         lambda cwd: write(prepare_data(cwd) / "manifest.json", "{"), writes_before=True),
    Case("command-line typo", ["run", "--seed", "abc"], "invalid int value: 'abc'"),
    Case("tune: --trials 0", ["tune", "--method", "scl", "--trials", "0"], "--trials 0 must be >= 1"),
    Case("tune: a method with nothing to tune", ["tune", "--method", "random", "--trials", "2"],
         "method 'random' does not train, so it has nothing to tune"),
    Case("tune: unknown storage scheme", [*TUNE, "--storage", "mysql://user@localhost/db"],
         "unknown storage scheme 'mysql'"),
    Case("tune: unreachable database", [*TUNE, "--storage", "postgresql://postgres:secret@127.0.0.1:1/db"],
         "cannot open the study database postgresql://postgres:***@127.0.0.1:1/db"),
    Case("tune: a study with another budget", TUNE, "has trials=1, this command asks for 2", _study_of_one_trial,
         writes_before=True),
    Case("tune: --set fixes a searched parameter", [*TUNE, "--set", "method.temperature=0.2"],
         "--set method.temperature fixes a parameter the study searches"),
    Case("suite --tuned before any study", ["suite", "--tuned", "--methods", "scl"],
         "no tuning studies at results/tuning/studies.journal"),
]


def snapshot(cwd: Path) -> dict[str, tuple[int, int]]:
    """Every file under results/ and data/: path -> (size, mtime_ns)."""
    out = {}
    for top in ("results", "data"):
        for path in sorted((cwd / top).rglob("*")):
            if path.is_file():
                stat = path.stat()
                out[str(path.relative_to(cwd))] = (stat.st_size, stat.st_mtime_ns)
    return out


def describe(snap: dict) -> str:
    return json.dumps(sorted(snap))
