"""The ``bench`` command line: list | run | suite | evaluate | report | config | data.

Every user error (BenchError) is one line on stderr, ``error: ...``, and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from bench import data_command
from bench.errors import BenchError, ConfigError
from bench.protocol.config import HEADLINE_METRICS, PRESETS
from bench.protocol_report import write_protocols
from bench.registry import DATASETS, ENCODERS, METHODS
from bench.report import write_leaderboard
from bench.run_config import resolve
from bench.runner import execute

console = Console()


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
    parser.add_argument("--results", type=Path, default=Path("results"), help="results directory")
    parser.add_argument("--data", type=Path, default=Path("data"), help="prepared-data directory")


def _metrics_table(title: str, metrics: dict[str, float]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        style = "bold" if name in HEADLINE_METRICS else ""
        table.add_row(name, f"{value:.2f}" if value is not None else "-", style=style)
    return table


def cmd_list(args: argparse.Namespace) -> None:
    kinds = {"methods": METHODS, "datasets": DATASETS, "encoders": ENCODERS}
    for kind in ([args.kind] if args.kind else kinds):
        console.print(f"[bold]{kind}[/]")
        for name in kinds[kind].names():
            cls = kinds[kind].get(name)
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            variants = getattr(cls, "variants", {})
            extra = f"  [dim]variants: {', '.join(variants)}[/]" if variants else ""
            console.print(f"  {name:22s} {doc}{extra}")


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
    methods = args.methods or METHODS.names()
    plans = [_resolve(args, method, seed) for method in methods for seed in args.seeds]
    for number, resolved in enumerate(plans, 1):
        console.rule(f"[{number}/{len(plans)}] {resolved.method_name} seed {resolved.seed}")
        execute(resolved, args.results, args.data, force=args.force, console=console)
    path = write_leaderboard(args.results)
    console.print(path.read_text())
    console.print(f"leaderboard: {path}")


def cmd_report(args: argparse.Namespace) -> None:
    path = write_leaderboard(args.results)
    console.print(path.read_text())
    protocols = write_protocols(args.results)
    if protocols is not None:
        console.print(f"protocols side by side: {protocols}")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="alignbench: train, evaluate and compare "
                                     "frame-representation learning methods by video alignment")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="registered methods, datasets, encoders")
    p.add_argument("kind", nargs="?", choices=["methods", "datasets", "encoders"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="train one method on one dataset, evaluate, write a run record")
    _add_config_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="rerun even if a finished record exists")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("suite", help="run several methods and seeds, then write the leaderboard")
    _add_config_args(p, with_method=False)
    p.add_argument("--methods", nargs="+", help="methods to run (default: every registered method)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_suite)

    p = sub.add_parser("report", help="rebuild results/LEADERBOARD.md from the run records")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("evaluate", help="score a finished run's saved model under another protocol or split",
                       epilog="example: bench evaluate --run 3f2a --protocol tcc carl lav")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--run", nargs="+", help="run directories or run ids (a unique prefix is enough)")
    target.add_argument("--all", action="store_true", help="every finished run under --results")
    p.add_argument("--protocol", nargs="+", help=f"protocol presets ({', '.join(PRESETS)}; default: the run's own)")
    p.add_argument("--split", default="val", choices=["val", "tune"],
                   help="val: fit on train, score val (default); tune: fit on train minus tune, score tune")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--data", type=Path, default=Path("data"))
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("config", help="print the resolved config of a run")
    _add_config_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("data", help="prepare a dataset from its files, describe it, or draw a contact sheet")
    p.add_argument("action", choices=["prepare", "info", "show"])
    p.add_argument("name")
    p.add_argument("--src", type=Path, help="prepare: the folder with the dataset's source files (README: Datasets)")
    p.add_argument("--resample", action="store_true",
                   help="prepare: resample videos whose frame and label counts differ, as CARL does (else they stop it)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="e.g. --set encoder.image_size=224 (the prepared frame size) or dataset.mode=joint")
    p.add_argument("--out", type=Path, help="where to write the contact sheet PNG")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--data", type=Path, default=Path("data"))
    p.set_defaults(func=cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
