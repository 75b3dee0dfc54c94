"""The ``bench`` command line: list | run | suite | evaluate | report | config | data.

Every user error (BenchError, and a malformed command line) is one line on stderr,
``error: ...``, and exit status 2. SIGINT / SIGTERM end with one line saying what can be
resumed and exit status 128 + the signal number (130 / 143).
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from bench import data_command
from bench.errors import BenchError, ConfigError
from bench.interrupts import RunInterrupted, exit_status, signal_name, terminate_raises
from bench.pages import write_pages
from bench.protocol.config import HEADLINE_METRICS, PRESETS
from bench.registry import DATASETS, ENCODERS, METHODS
from bench.report import direction, is_committed, leaderboard_text, write_leaderboard
from bench.run_config import resolve
from bench.runner import execute

console = Console(soft_wrap=True)  # piped output keeps long lines (table rows) whole


def warn(message: str) -> None:
    """A warning on stderr (e.g. a run record that is skipped)."""
    print(f"warning: {message}", file=sys.stderr)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: ...; see bench run --help``), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message}; see {self.prog} --help\n")


EXAMPLES = {
    "list": "bench list methods",
    "run": "bench run --method tcc --variant classification --set trainer.steps=500 --seed 1",
    "suite": "bench suite --dataset synthetic --methods scl tcc --seeds 0 1 2",
    "evaluate": "bench evaluate --run 3f2a --protocol tcc carl lav",
    "report": "bench report --results my_results        # writes my_results/LEADERBOARD.md",
    "publish": "bench publish                               # results/runs -> results/published",
    "config": "bench config --method scl --set method.temperature=0.2",
    "data": "bench data prepare pouring --src ~/pouring_tfrecords --set encoder.image_size=224",
    "tune": "bench tune --method tcc --dataset synthetic --trials 8 --workers 2   # then: bench suite --tuned",
    "ablate": "bench ablate --paper lav --dataset synthetic --seeds 0 1 2   # --list: the plan only",
    "align": "bench align --run 3f2a --videos pour_val_000 pour_val_001",
    "retrieve": "bench retrieve --run 3f2a --video pour_val_000 --frame 40 --k 5",
}
RUN_HELP = "run directory or run id (a unique prefix is enough)"


def _add_config_args(parser: argparse.ArgumentParser, with_method: bool = True) -> None:
    if with_method:
        parser.add_argument("--method", help="method name (bench list methods)")
        parser.add_argument("--variant", help="named ablation variant of the method")
    parser.add_argument("--dataset", default=None, help="dataset name (default synthetic)")
    parser.add_argument("--encoder", default=None,
                        help="encoder name (default: the method's paper encoder on a real dataset, else cnn_transformer)")
    parser.add_argument("--protocol", default=None, help=f"protocol preset: {', '.join(PRESETS)}")
    parser.add_argument("--config", dest="config_file", help="YAML file with method:/dataset:/encoder:/trainer:/protocol: sections")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value, e.g. --set trainer.steps=100 (repeatable)")
    _add_paths(parser)


def _add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=Path("results"), help="results directory")
    parser.add_argument("--data", type=Path, default=Path("data"), help="prepared-data directory")


def _metrics_table(title: str, metrics: dict[str, float | None]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("better")
    for name, value in metrics.items():
        style = "bold" if name in HEADLINE_METRICS else ""
        better = {"↑": "↑ higher", "↓": "↓ lower", "": "± half-width"}[direction(name)]
        table.add_row(name, f"{value:.2f}" if value is not None else "-", "%", better, style=style)
    return table


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring, on one line (a full stop followed by a capital
    letter ends it, so "Eq. 8" does not)."""
    text = " ".join((doc or "").strip().split("\n\n")[0].split())
    end = re.search(r"\.\s+(?=[A-Z])", text)
    return text if end is None else text[:end.start() + 1]


def cmd_list(args: argparse.Namespace) -> None:
    kinds = {"methods": METHODS, "datasets": DATASETS, "encoders": ENCODERS}
    for kind in ([args.kind] if args.kind else kinds):
        console.print(f"[bold]{kind}[/]")
        for name in kinds[kind].names():
            cls = kinds[kind].get(name)
            variants = getattr(cls, "variants", {})
            extra = f"  [dim]variants: {', '.join(variants)}[/]" if variants else ""
            console.print(f"  {name:22s} {first_sentence(cls.__doc__)}{extra}", highlight=False)


def _resolve(args: argparse.Namespace, method: str | None, seed: int):
    return resolve(method=method, dataset=args.dataset, encoder=args.encoder, variant=getattr(args, "variant", None),
                   protocol=args.protocol, seed=seed, config_file=args.config_file, overrides=args.overrides)


def cmd_run(args: argparse.Namespace) -> None:
    resolved = _resolve(args, args.method, args.seed)
    outcome = execute(resolved, args.results, args.data, force=args.force, console=console)
    console.print(_metrics_table(f"{outcome.record['label']} on {outcome.record['dataset']} "
                                 f"(seed {outcome.record['seed']})", outcome.record["metrics"]))
    console.print(f"run record: {outcome.directory}")


def cmd_suite(args: argparse.Namespace) -> None:
    """Every method and seed; with --tuned each trainable method with its study's best config."""
    from bench.tuning.tuned import tuned_values  # noqa: PLC0415 - Optuna only when asked for

    methods = args.methods or METHODS.names()
    tuned = {method: tuned_values(method, None, args.dataset or "synthetic", args.storage, args.results)
             for method in methods if args.tuned and METHODS.get(method).trainable}
    plans = [(resolve(method=method, dataset=args.dataset, encoder=args.encoder, protocol=args.protocol, seed=seed,
                      config_file=args.config_file, overrides=args.overrides,
                      values=tuned[method][0] if method in tuned else None), tuned.get(method, (None, None))[1])
             for method in methods for seed in args.seeds]
    for number, (resolved, provenance) in enumerate(plans, 1):
        console.rule(f"[{number}/{len(plans)}] {resolved.method_name}{' (tuned)' if provenance else ''} "
                     f"seed {resolved.seed}")
        execute(resolved, args.results, args.data, force=args.force, console=console, tuned=provenance)
    path = write_leaderboard(args.results, warn=warn)
    console.print(path.read_text(), markup=False, highlight=False)
    console.print(f"leaderboard: {path}")


def cmd_report(args: argparse.Namespace) -> None:
    """Write the leaderboard of ``--results`` to ``--out`` (default <results>/LEADERBOARD.md),
    except over a LEADERBOARD.md tracked by git unless --replace says so; and PROTOCOLS.md
    beside it when some run was re-evaluated."""
    out = args.out or args.results / "LEADERBOARD.md"
    if args.out is None and not args.replace and is_committed(out):
        console.print(leaderboard_text(args.results, warn), markup=False, highlight=False)
        console.print(f"not written: {out} is the committed leaderboard; pass --replace to overwrite it "
                      "or --out FILE to write elsewhere")
        return
    leaderboard, *others = write_pages(args.results, out, warn)
    console.print(leaderboard.read_text(), markup=False, highlight=False)
    console.print("\n".join(f"written: {page}" for page in [leaderboard, *others]))


def cmd_publish(args: argparse.Namespace) -> None:
    """Replace the published runs with the finished runs of --results, then rebuild the published pages."""
    from bench.publish import publish  # noqa: PLC0415 - only this command needs it

    runs = publish(args.results, args.to)
    console.print(f"published {len(runs)} runs (records, configs, loss logs, re-evaluations; no weights) "
                  f"to {args.to / 'runs'}")
    console.print("\n".join(f"written: {page}" for page in write_pages(args.to, warn=warn)))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from bench.reevaluate import reevaluate  # noqa: PLC0415 - only this command needs it
    from bench.runner import finished_runs  # noqa: PLC0415

    runs = [str(path) for path in finished_runs(args.results)] if args.all else args.run
    if not runs:
        raise BenchError("give --run RUN_DIR_OR_ID (or --all for every finished run under --results)")
    for run in runs:
        for protocol, path in reevaluate(run, args.protocol or [None], args.split, args.results, args.data,
                                         console).items():
            metrics = json.loads(path.read_text())["metrics"]
            console.print(_metrics_table(f"{Path(run).name} under {protocol} ({args.split})", metrics))
            console.print(f"written: {path}")


def cmd_tune(args: argparse.Namespace) -> None:
    from bench.tuning.report import study_summary  # noqa: PLC0415 - Optuna only when tuning
    from bench.tuning.study import TuneSpec  # noqa: PLC0415
    from bench.tuning.worker import tune  # noqa: PLC0415

    if args.method is None:
        raise ConfigError("bench tune needs --method (bench list methods)")
    spec = TuneSpec(method=args.method, variant=args.variant, dataset=args.dataset or "synthetic", trials=args.trials,
                    steps=args.steps, encoder=args.encoder, protocol=args.protocol, workers=args.workers, storage=args.storage,
                    study=args.study, pruner=args.pruner, seed=args.seed, config_file=args.config_file,
                    overrides=tuple(args.overrides), results=args.results, data=args.data, heartbeat_s=args.heartbeat)
    console.print(study_summary(tune(spec, console)), markup=False, highlight=False)


def cmd_ablate(args: argparse.Namespace) -> None:
    from bench.ablate import plan, run_ablation  # noqa: PLC0415 - only this command needs it

    plans = plan(args.paper, args.dataset, args.seeds, args.overrides, args.tuned, args.config_file, args.results,
                 args.storage)
    run_ablation(args.paper, plans, args.results, args.data, args.list, console)
    if not args.list:
        console.print(f"now `bench report --results {args.results}` writes results/papers/{args.paper}.md")


def cmd_align(args: argparse.Namespace) -> None:
    from bench.align_view import align_videos  # noqa: PLC0415 - matplotlib only when drawing

    path, result = align_videos(args.run, args.videos[0], args.videos[1], args.results, args.data, args.out)
    error = "" if result.error is None else f"; alignment error {result.error:.2f} % of the action"
    console.print(f"DTW path of {len(result.path)} cells{error}\nalignment: {path}")


def cmd_retrieve(args: argparse.Namespace) -> None:
    from bench.retrieve_view import retrieve  # noqa: PLC0415 - matplotlib only when drawing

    path, neighbours = retrieve(args.run, args.video, args.frame, args.k, args.results, args.data, args.out)
    table = Table(title=f"{args.k} nearest frames to {args.video} frame {args.frame}")
    for column in ("video", "frame", "phase", "squared distance", "same phase"):
        table.add_column(column)
    for n in neighbours:
        table.add_row(n.video_id, str(n.frame), n.phase, f"{n.distance:.4g}", "yes" if n.same_phase else "no")
    console.print(table)
    console.print(f"retrieval: {path}")


def cmd_config(args: argparse.Namespace) -> None:
    console.print(yaml.safe_dump(_resolve(args, args.method, args.seed).as_dict(), sort_keys=False), end="")


def cmd_data(args: argparse.Namespace) -> None:
    if args.action == "prepare":
        if args.src is None:
            raise ConfigError(f"bench data prepare {args.name} needs --src PATH, the folder with the dataset's files")
        data_command.prepare(args.name, args.src, args.data, args.overrides, args.resample, console)
    elif args.action == "info":
        data_command.info(args.name, args.data, args.overrides, console)
    else:
        data_command.show(args.name, args.data, args.overrides,
                          args.out or args.results / "figures" / f"{args.name}_contact_sheet.png", console)


def _subcommand(sub: argparse._SubParsersAction, name: str, help_text: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=help_text, epilog=f"example:\n  {EXAMPLES[name]}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="bench", description="alignbench: train, evaluate and compare "
                    "frame-representation learning methods by video alignment",
                    epilog="examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES.values()),
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = _subcommand(sub, "list", "list the registered methods (with variants), datasets and encoders")
    p.add_argument("kind", nargs="?", choices=["methods", "datasets", "encoders"])
    p.set_defaults(func=cmd_list)

    p = _subcommand(sub, "run", "train one method on one dataset, evaluate it and write a run record")
    _add_config_args(p)
    p.add_argument("--seed", type=int, default=None, help="the run's seed, 0 to 2**32-1 (default 0; "
                   "or seed: in the YAML file, or --set seed=N)")
    p.add_argument("--force", action="store_true", help="rerun even if a finished record exists")
    p.set_defaults(func=cmd_run)

    p = _subcommand(sub, "suite", "run several methods and seeds, then write <results>/LEADERBOARD.md")
    _add_config_args(p, with_method=False)
    p.add_argument("--methods", nargs="+", help="methods to run (default: every registered method)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--force", action="store_true", help="rerun even if a finished record exists")
    p.add_argument("--tuned", action="store_true", help="each trainable method with the best config of its "
                   "study (bench tune); methods that do not train run as they are")
    p.add_argument("--storage", help="where the studies are (default <results>/tuning/studies.journal)")
    p.set_defaults(func=cmd_suite)

    p = _subcommand(sub, "tune", "tune one method with Optuna on the tune split (equal budget for every method)")
    _add_config_args(p)
    p.add_argument("--trials", type=int, required=True, help="finished (complete or pruned) trials the study ends with")
    p.add_argument("--steps", type=int, help="training steps per trial (default: the dataset's)")
    p.add_argument("--workers", type=int, default=1, help="worker processes on this host (default 1)")
    p.add_argument("--storage", help="journal:FILE, sqlite:///FILE or postgresql://USER@HOST:PORT/DB "
                   "(default journal:<results>/tuning/studies.journal)")
    p.add_argument("--study", help="study name (default <dataset>-<method>[+<variant>])")
    p.add_argument("--pruner", default="median", choices=["median", "hyperband", "none"])
    p.add_argument("--seed", type=int, default=0, help="the sampler's and every trial run's seed (default 0)")
    p.add_argument("--heartbeat", type=int, default=10, help="seconds between a trial's heartbeats on RDB storage")
    p.set_defaults(func=cmd_tune)

    p = _subcommand(sub, "report", "write the leaderboard of the run records under <results>/runs")
    p.add_argument("--results", type=Path, default=Path("results"), help="results directory (default results)")
    p.add_argument("--out", type=Path, help="where to write it (default <results>/LEADERBOARD.md)")
    p.add_argument("--replace", action="store_true",
                   help="overwrite <results>/LEADERBOARD.md even when it is the one committed to git")
    p.set_defaults(func=cmd_report)

    p = _subcommand(sub, "publish", "replace the published runs (results/published) with your finished runs "
                    "and rebuild the published pages")
    p.add_argument("--results", type=Path, default=Path("results"), help="where the runs are (default results)")
    p.add_argument("--to", type=Path, default=Path("results/published"),
                   help="the published results directory (default results/published)")
    p.set_defaults(func=cmd_publish)

    p = _subcommand(sub, "evaluate", "score a finished run's saved model under another protocol or split")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--run", nargs="+", help="run directories or run ids (a unique prefix is enough)")
    target.add_argument("--all", action="store_true", help="every finished run under --results")
    p.add_argument("--protocol", nargs="+", help=f"protocol presets ({', '.join(PRESETS)}; default: the run's own)")
    p.add_argument("--split", default="val", choices=["val", "tune"],
                   help="val: fit on train, score val (default); tune: fit on train minus tune, score tune")
    _add_paths(p)
    p.set_defaults(func=cmd_evaluate)

    p = _subcommand(sub, "ablate", "train every row of a paper's ablation tables under the paper's protocol")
    p.add_argument("--paper", required=True, help="lav, lrprop, lac or tcc")
    p.add_argument("--dataset", default=None, help="dataset name (default synthetic)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--tuned", action="store_true", help="each row with the best config of its study "
                   "(bench tune --method M --variant V)")
    p.add_argument("--storage", help="where the studies are (default <results>/tuning/studies.journal)")
    p.add_argument("--list", action="store_true", help="print the plan and its run count, run nothing")
    p.add_argument("--config", dest="config_file", help="YAML file applied to every row")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value for every row, e.g. --set trainer.steps=100")
    _add_paths(p)
    p.set_defaults(func=cmd_ablate)

    p = _subcommand(sub, "align", "draw two videos aligned by DTW on a finished run's embeddings (PNG)")
    p.add_argument("--run", required=True, help=RUN_HELP)
    p.add_argument("--videos", nargs=2, required=True, metavar=("A", "B"), help="two video ids of the run's dataset")
    p.add_argument("--out", type=Path, help="PNG path (default results/figures/align_<run>_<A>_<B>.png)")
    _add_paths(p)
    p.set_defaults(func=cmd_align)

    p = _subcommand(sub, "retrieve", "draw the K nearest frames of other videos to one frame (PNG)")
    p.add_argument("--run", required=True, help=RUN_HELP)
    p.add_argument("--video", required=True, help="the query video's id")
    p.add_argument("--frame", type=int, required=True, help="the query frame (0-based)")
    p.add_argument("--k", type=int, default=5, help="neighbours to show (default 5)")
    p.add_argument("--out", type=Path, help="PNG path (default results/figures/retrieve_<run>_<video>_<frame>.png)")
    _add_paths(p)
    p.set_defaults(func=cmd_retrieve)

    p = _subcommand(sub, "config", "print the resolved config of a run (YAML)")
    _add_config_args(p)
    p.add_argument("--seed", type=int, default=None, help="the run's seed (default 0)")
    p.set_defaults(func=cmd_config)

    p = _subcommand(sub, "data", "prepare a dataset from its files, describe it, or draw a contact sheet")
    p.add_argument("action", choices=["prepare", "info", "show"])
    p.add_argument("name", help="dataset name (bench list datasets)")
    p.add_argument("--src", type=Path, help="prepare: the folder with the dataset's source files (README: Datasets)")
    p.add_argument("--resample", action="store_true",
                   help="prepare: resample videos whose frame and label counts differ, as CARL does (else they stop it)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="e.g. --set encoder.image_size=224 (the prepared frame size) or dataset.mode=joint")
    p.add_argument("--out", type=Path, help="where to write the contact sheet PNG")
    _add_paths(p)
    p.set_defaults(func=cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with terminate_raises():
            args.func(args)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        if isinstance(err, RunInterrupted):
            print(err, file=sys.stderr)
        else:
            name = signal_name(getattr(err, "signum", signal.SIGINT))
            print(f"interrupted by {name}: finished runs are kept and nothing half-written is left",
                  file=sys.stderr)
        return exit_status(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
