"""Speed of the alignment kernels against the reference sweeps and the PyPI peers, and of training steps.

``python -m bench.perf`` (``make perf``) times, in one run on this machine, the median of
``repeats`` calls after ``warmup`` untimed ones:

- soft-DTW value + gradient (forward + backward) on random (B, N, M) costs: ours
  (``soft_dtw``, numba backend), the torch reference sweep, tslearn (its batched numba
  ``SoftDTWLossPyTorch`` and the per-pair ``SoftDTW(D).compute() / .grad()``) and pysdtw
  (its CPU numba path), each fed the same precomputed cost matrices;
- hard DTW with the path for pairs of D-dimensional series: ours (squared-Euclidean cost,
  then ``bench.align.dtw.dtw_path`` per pair) against ``tslearn.metrics.dtw_path`` per
  pair, which takes the two series and uses the same cost internally;
- smooth Smith-Waterman score + gradient: ours (numba) and the torch reference, and its
  time over our soft-DTW's at the same shape;
- gradient agreement of ours with the torch reference in float64;
- on a CUDA device, when there is one: the same soft-DTW and smooth SW benchmarks for
  our Triton backend, the torch reference and pysdtw's CUDA path, in float32;
- a training step per encoder, cached vs uncached frozen features, on the CPU and on
  CUDA when present: steps per second and peak memory (bench/perf_training.py),

then prints a table with the ratios the performance targets are stated in and writes it,
with a description of the machine, to ``results/perf.md`` (replaced atomically). A peer
that is not installed, or fails here, is reported as unavailable instead of failing the
run. Timings are never asserted anywhere; they depend on the machine.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from bench.align.dtw import dtw_path
from bench.align.smith_waterman import smooth_sw
from bench.align.softdtw import soft_dtw
from bench.perf_training import CPU_STEPS, CUDA_STEPS, StepBenchmark, StepResult, time_training_steps

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class PerfConfig:
    """What to time: shapes are (batch, N, M); ``hard`` is (pairs, length, dim)."""

    softdtw_shapes: tuple[Shape, ...] = ((8, 128, 128), (32, 64, 64))
    hard: tuple[int, int, int] = (64, 100, 16)
    sw_shape: Shape = (8, 64, 64)
    gamma: float = 0.1
    # peers to time, by name prefix; each compiles numba code (uncached) for seconds on first use
    peers: tuple[str, ...] = ("tslearn", "pysdtw")
    sw_gaps: tuple[float, float] = (0.5, 0.1)  # open, extend
    sw_temperature: float = 0.1
    repeats: int = 7
    warmup: int = 2
    seed: int = 0
    cpu_steps: tuple[StepBenchmark, ...] = CPU_STEPS
    cuda_steps: tuple[StepBenchmark, ...] = CUDA_STEPS
    step_repeats: int = 3
    step_warmup: int = 1


@dataclass
class Row:
    """One timed contender: ``seconds`` is None when it could not run (``note`` says why)."""

    section: str
    name: str
    seconds: float | None
    note: str = ""


@dataclass
class Target:
    """One ratio the issue states a target for."""

    quantity: str
    value: float | None
    target: str
    met: bool | None
    note: str = ""


# ---------------------------------------------------------------------------- timing


def median_time(fn: Callable[[], object], repeats: int, warmup: int) -> float:
    """Median wall time in seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_row(section: str, name: str, fn: Callable[[], object], cfg: PerfConfig, note: str = "") -> Row:
    """Time ``fn``; an exception (a peer that cannot run here) becomes an unavailable row."""
    try:
        return Row(section, name, median_time(fn, cfg.repeats, cfg.warmup), note)
    except Exception as err:  # noqa: BLE001 - a peer's failure is reported, not raised
        return Row(section, name, None, f"unavailable: {type(err).__name__}: {str(err).splitlines()[0][:100]}")


def random_cost(shape: Shape, seed: int, dtype=torch.float64) -> torch.Tensor:
    """Non-negative random costs in [0, 1), like squared distances of normalised embeddings."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)


def value_and_grad(values: Callable[[torch.Tensor], torch.Tensor], cost: torch.Tensor) -> Callable[[], torch.Tensor]:
    """A closure running forward + backward of ``values(cost).sum()``; returns the gradient."""

    def step() -> torch.Tensor:
        leaf = cost.detach().clone().requires_grad_(True)
        values(leaf).sum().backward()
        return leaf.grad

    return step


# ----------------------------------------------------------------------- contenders


def softdtw_contenders(gamma: float) -> dict[str, Callable[[torch.Tensor], torch.Tensor] | str]:
    """name -> cost (B, N, M) -> values (B,), differentiable; a str says why it is unavailable."""
    out: dict[str, Callable[[torch.Tensor], torch.Tensor] | str] = {
        "ours (numba)": lambda c: soft_dtw(c, gamma, backend="numba"),
        "ours, torch reference": lambda c: soft_dtw(c, gamma, backend="torch"),
    }
    try:
        from tslearn.metrics import SoftDTW, SoftDTWLossPyTorch

        # the loss's forward writes into its distance matrix, hence the clone
        loss = SoftDTWLossPyTorch(gamma=gamma, dist_func=lambda x, y: x.clone())
        out["tslearn SoftDTWLossPyTorch (batched numba)"] = lambda c: loss(c, c)
        out["tslearn SoftDTW(D) per pair (numpy)"] = lambda c: _TslearnPerPair.apply(c, gamma, SoftDTW)
    except ImportError as err:
        out["tslearn"] = f"unavailable: {err}"
    try:
        import pysdtw

        sdtw = pysdtw.SoftDTW(gamma=gamma, dist_func=lambda x, y: x, use_cuda=False)
        # pysdtw reads the lengths off its two inputs: y only supplies M and the feature size
        out["pysdtw (CPU numba)"] = lambda c: sdtw(c, c.new_empty(c.shape[0], c.shape[2], c.shape[2]))
    except Exception as err:  # noqa: BLE001 - pysdtw may be missing or need CUDA at import
        out["pysdtw"] = f"unavailable: {type(err).__name__}: {err}"
    return out


class _TslearnPerPair(torch.autograd.Function):
    """tslearn's numpy soft-DTW, one ``SoftDTW(D)`` per pair: ``compute()`` then ``grad()``."""

    @staticmethod
    def forward(ctx, cost, gamma, soft_dtw_cls):
        objects = [soft_dtw_cls(d, gamma=gamma) for d in cost.detach().numpy()]
        values = [obj.compute() for obj in objects]
        ctx.objects = objects
        return cost.new_tensor(values)

    @staticmethod
    def backward(ctx, grad_out):
        grads = torch.from_numpy(np.stack([obj.grad() for obj in ctx.objects]))
        return grad_out.view(-1, 1, 1) * grads.to(grad_out.dtype), None, None


def time_softdtw(shape: Shape, cfg: PerfConfig) -> list[Row]:
    """Forward + backward of every soft-DTW contender on one random float64 cost batch."""
    section = f"soft-DTW fwd+bwd {'x'.join(map(str, shape))}"
    cost = random_cost(shape, cfg.seed)
    reference = soft_dtw(cost, cfg.gamma, backend="numba")
    rows = []
    for name, fn in softdtw_contenders(cfg.gamma).items():
        if not name.startswith(("ours", *cfg.peers)):
            continue
        if isinstance(fn, str):
            rows.append(Row(section, name, None, fn))
            continue
        row = timed_row(section, name, value_and_grad(fn, cost), cfg)
        if row.seconds is not None and not name.startswith("ours"):
            with torch.no_grad():
                diff = (fn(cost.clone()).double() - reference).abs().max() / reference.abs().max()
            row.note = f"value vs ours: max rel diff {diff.item():.1e}"
        rows.append(row)
    return rows


def sq_euclidean(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Squared Euclidean costs (B, N, M) between series x (B, N, D) and y (B, M, D).

    |x|^2 + |y|^2 - 2 x.y through one batched matmul, clipped at 0 (rounding).
    """
    sq = (x**2).sum(-1)[:, :, None] + (y**2).sum(-1)[:, None, :] - 2 * (x @ y.transpose(0, 2, 1))
    return np.maximum(sq, 0.0)


def time_hard_dtw(cfg: PerfConfig) -> list[Row]:
    """Hard DTW with the path, pair by pair: ours from series (cost included) and from cost, tslearn."""
    pairs, length, dim = cfg.hard
    section = f"hard DTW + path, {pairs} pairs {length}x{length}, D={dim}"
    rng = np.random.default_rng(cfg.seed)
    x, y = rng.standard_normal((2, pairs, length, dim))
    costs = sq_euclidean(x, y)

    def ours_from_series():
        return [dtw_path(c) for c in sq_euclidean(x, y)]

    rows = [
        timed_row(section, "ours: sq-Euclidean cost + dtw_path", ours_from_series, cfg,
                  "same squared-Euclidean cost tslearn builds from the series"),
        timed_row(section, "ours: dtw_path on given cost", lambda: [dtw_path(c) for c in costs], cfg),
    ]
    if not "tslearn dtw_path (series in)".startswith(cfg.peers):
        return rows
    try:
        from tslearn.metrics import dtw_path as tslearn_dtw_path
    except ImportError as err:
        return [*rows, Row(section, "tslearn dtw_path", None, f"unavailable: {err}")]
    row = timed_row(section, "tslearn dtw_path (series in)", lambda: [tslearn_dtw_path(a, b) for a, b in zip(x, y)], cfg)
    if row.seconds is not None:
        same = sum(np.array_equal(dtw_path(c)[0], np.asarray(tslearn_dtw_path(a, b)[0]))
                   for c, a, b in zip(costs, x, y))
        row.note = f"paths equal to ours: {same}/{pairs}"
    return [*rows, row]


def time_smooth_sw(cfg: PerfConfig) -> list[Row]:
    """Smooth SW score + gradient (ours, torch reference) and our soft-DTW at the same shape."""
    shape = cfg.sw_shape
    section = f"smooth SW fwd+bwd {'x'.join(map(str, shape))}"
    sim = random_cost(shape, cfg.seed + 1) * 2 - 1
    g_open, g_ext = cfg.sw_gaps
    note = f"gaps {g_open}/{g_ext}, t={cfg.sw_temperature}"
    rows = [
        timed_row(section, f"ours (numba), {note}", value_and_grad(_sw_score("numba", cfg), sim), cfg),
        timed_row(section, "ours, torch reference", value_and_grad(_sw_score("torch", cfg), sim), cfg),
        timed_row(section, "ours soft-DTW (numba), same shape",
                  value_and_grad(lambda c: soft_dtw(c, cfg.gamma, backend="numba"), random_cost(shape, cfg.seed)), cfg),
    ]
    return rows


def _sw_score(backend: str, cfg: PerfConfig) -> Callable[[torch.Tensor], torch.Tensor]:
    g_open, g_ext = cfg.sw_gaps
    return lambda s: smooth_sw(s, g_open, g_ext, cfg.sw_temperature, backend=backend)[0]


def synchronised(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` followed by a CUDA synchronisation, so that its time includes the device's work."""

    def step() -> object:
        out = fn()
        torch.cuda.synchronize()
        return out

    return step


def time_gpu(cfg: PerfConfig) -> list[Row]:
    """soft-DTW and smooth SW forward + backward on the CUDA device in float32: Triton, torch reference, pysdtw."""
    if not torch.cuda.is_available():
        return [Row("GPU soft-DTW and smooth SW", "ours (triton)", None, "unavailable: no CUDA device here")]
    rows = []
    for shape in cfg.softdtw_shapes:
        section = f"GPU soft-DTW fwd+bwd {'x'.join(map(str, shape))}, float32"
        cost = random_cost(shape, cfg.seed, torch.float32).cuda()
        contenders = {f"ours ({b})": (lambda c, b=b: soft_dtw(c, cfg.gamma, backend=b)) for b in ("triton", "torch")}
        try:
            import pysdtw

            sdtw = pysdtw.SoftDTW(gamma=cfg.gamma, dist_func=lambda x, y: x, use_cuda=True)
            contenders["pysdtw (CUDA)"] = lambda c, f=sdtw: f(c, c.new_empty(c.shape[0], c.shape[2], c.shape[2]))
        except ImportError as err:
            rows.append(Row(section, "pysdtw (CUDA)", None, f"unavailable: {err}"))
        rows += [timed_row(section, name, synchronised(value_and_grad(fn, cost)), cfg) for name, fn in contenders.items()]
    section = f"GPU smooth SW fwd+bwd {'x'.join(map(str, cfg.sw_shape))}, float32"
    sim = (random_cost(cfg.sw_shape, cfg.seed + 1, torch.float32) * 2 - 1).cuda()
    rows += [timed_row(section, f"ours ({b})", synchronised(value_and_grad(_sw_score(b, cfg), sim)), cfg)
             for b in ("triton", "torch")]
    return rows


def gradient_agreement(cfg: PerfConfig) -> dict[str, float]:
    """max |grad_ours - grad_torch| / max |grad_torch| in float64, soft-DTW and smooth SW."""
    cost = random_cost(cfg.sw_shape, cfg.seed)
    sim = random_cost(cfg.sw_shape, cfg.seed + 1) * 2 - 1
    out = {}
    for name, make, data in (
        ("soft-DTW", lambda b: (lambda c: soft_dtw(c, cfg.gamma, backend=b)), cost),
        ("smooth SW", lambda b: _sw_score(b, cfg), sim),
    ):
        ours, ref = value_and_grad(make("numba"), data)(), value_and_grad(make("torch"), data)()
        out[name] = ((ours - ref).abs().max() / ref.abs().max()).item()
    return out


def time_training(cfg: PerfConfig) -> list[StepResult]:
    """Training steps per encoder on the CPU, and on CUDA when there is a device."""
    results = time_training_steps(cfg.cpu_steps, torch.device("cpu"), cfg.step_repeats, cfg.step_warmup)
    if torch.cuda.is_available():
        results += time_training_steps(cfg.cuda_steps, torch.device("cuda"), cfg.step_repeats, cfg.step_warmup)
    return results


def _variant(result: StepResult) -> str:
    return {None: "whole encoder trains (no frozen part)", False: "uncached", True: "cached frozen features"}[
        result.cached]


def training_rows(results: list[StepResult]) -> list[Row]:
    """One row per timed step variant; the note gives steps per second and peak memory."""
    rows = []
    for r in results:
        memory = "-" if r.peak_mb is None else f"{r.peak_mb:.0f} MiB"
        rows.append(Row(f"training step {r.device}: {r.benchmark.encoder}, {r.benchmark.describe(r.image_size)}",
                        _variant(r), r.seconds, f"{1 / r.seconds:.2f} steps/s, peak memory {memory}"))
    return rows


def training_targets(results: list[StepResult]) -> list[Target]:
    """Per encoder with a frozen part: uncached / cached step time, cached / uncached peak memory."""
    out = []
    for cached in (r for r in results if r.cached):
        uncached = next(r for r in results if r.cached is False and r.benchmark == cached.benchmark
                        and r.device == cached.device)
        name = f"{cached.benchmark.encoder} training step ({cached.device})"
        speed = uncached.seconds / cached.seconds
        out.append(Target(f"{name}: uncached / cached time", speed, "> 1", speed > 1,
                          f"{1 / uncached.seconds:.2f} -> {1 / cached.seconds:.2f} steps/s"))
        if cached.peak_mb is not None and uncached.peak_mb:
            memory = cached.peak_mb / uncached.peak_mb
            out.append(Target(f"{name}: cached / uncached peak memory", memory, "< 1", memory < 1,
                              f"{uncached.peak_mb:.0f} -> {cached.peak_mb:.0f} MiB"))
    return out


# --------------------------------------------------------------------------- targets


def _seconds(rows: list[Row], section_start: str, name_start: str) -> float | None:
    for row in rows:
        if row.section.startswith(section_start) and row.name.startswith(name_start):
            return row.seconds
    return None


def targets(rows: list[Row], agreement: dict[str, float], cfg: PerfConfig) -> list[Target]:
    """The issue's ratios: speed-ups over the fastest peer, SW over soft-DTW, gradient agreement."""
    out = []
    for shape in cfg.softdtw_shapes:
        section = f"soft-DTW fwd+bwd {'x'.join(map(str, shape))}"
        ours = _seconds(rows, section, "ours (numba)")
        peers = [r for r in rows if r.section == section and r.seconds is not None
                 and (r.name.startswith("tslearn") or r.name.startswith("pysdtw"))]
        best = min(peers, key=lambda r: r.seconds, default=None)
        ratio = best.seconds / ours if best and ours else None
        out.append(Target(f"soft-DTW {'x'.join(map(str, shape))}: fastest peer / ours", ratio, ">= 1.5",
                          None if ratio is None else ratio >= 1.5, f"fastest peer: {best.name}" if best else "no peer ran"))
    tslearn = _seconds(rows, "hard DTW", "tslearn")
    ours = _seconds(rows, "hard DTW", "ours: sq-Euclidean")
    ratio = tslearn / ours if tslearn and ours else None
    out.append(Target("hard DTW + path: tslearn / ours (per pair, cost included)", ratio, ">= 5",
                       None if ratio is None else ratio >= 5))
    sw, sdtw = _seconds(rows, "smooth SW", "ours (numba)"), _seconds(rows, "smooth SW", "ours soft-DTW")
    ratio = sw / sdtw if sw and sdtw else None
    out.append(Target(f"smooth SW / soft-DTW at {'x'.join(map(str, cfg.sw_shape))} (ours)", ratio, "<= 3",
                       None if ratio is None else ratio <= 3))
    for name, diff in agreement.items():
        out.append(Target(f"{name} gradient, ours vs torch reference (float64)", diff, "<= 1e-6", diff <= 1e-6,
                          "max |diff| / max |reference|"))
    return out


# --------------------------------------------------------------------------- reports


def machine() -> dict[str, str]:
    """CPU, thread counts and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numba

    versions = []
    for package in ("torch", "numpy", "numba", "tslearn", "pysdtw"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    return {
        "CPU": f"{cpu} ({os.cpu_count()} logical cores)",
        "threads": f"torch {torch.get_num_threads()}, numba {numba.config.NUMBA_NUM_THREADS}",
        "versions": f"Python {platform.python_version()}, " + ", ".join(versions),
    }


def _fmt_time(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.2f} ms"


def _fmt_value(target: Target) -> str:
    if target.value is None:
        return "-"
    return f"{target.value:.1e}" if "gradient" in target.quantity else f"{target.value:.2f}x"


def _met(target: Target) -> str:
    return "n/a" if target.met is None else ("yes" if target.met else "NO")


def tables(rows: list[Row], goals: list[Target]) -> tuple[Table, Table]:
    """The timings and the targets as rich tables."""
    timing = Table(title="Timings (median after warm-up)")
    for column in ("benchmark", "contender", "time", "note"):
        timing.add_column(column)
    for row in rows:
        timing.add_row(row.section, row.name, _fmt_time(row.seconds), row.note)
    goal = Table(title="Targets")
    for column in ("quantity", "measured", "target", "met", "note"):
        goal.add_column(column)
    for target in goals:
        goal.add_row(target.quantity, _fmt_value(target), target.target, _met(target), target.note)
    return timing, goal


def markdown(rows: list[Row], goals: list[Target], info: dict[str, str], cfg: PerfConfig) -> str:
    """The report as markdown: machine, timings, targets."""
    lines = ["# Performance: alignment kernels and training steps", "",
             "Written by `make perf` (`python -m bench.perf`).", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    lines += [f"- protocol: median of {cfg.repeats} calls after {cfg.warmup} warm-up calls; float64 inputs; "
              f"soft-DTW gamma {cfg.gamma}; training steps: median of {cfg.step_repeats} after "
              f"{cfg.step_warmup} warm-up, random weights and frames (bench/perf_training.py)", "", "## Timings", "",
              "| benchmark | contender | time | note |", "|---|---|---|---|"]
    lines += [f"| {r.section} | {r.name} | {_fmt_time(r.seconds)} | {r.note} |" for r in rows]
    lines += ["", "## Targets", "", "| quantity | measured | target | met | note |", "|---|---|---|---|---|"]
    lines += [f"| {t.quantity} | {_fmt_value(t)} | {t.target} | {_met(t)} | {t.note} |" for t in goals]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(cfg: PerfConfig) -> tuple[list[Row], list[Target]]:
    """Every benchmark of ``cfg`` and the targets computed from them."""
    rows = [row for shape in cfg.softdtw_shapes for row in time_softdtw(shape, cfg)]
    rows += time_hard_dtw(cfg)
    rows += time_smooth_sw(cfg)
    rows += time_gpu(cfg)
    steps = time_training(cfg)
    rows += training_rows(steps)
    return rows, targets(rows, gradient_agreement(cfg), cfg) + training_targets(steps)


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=PerfConfig.repeats)
    parser.add_argument("--out", type=Path, default=Path("results/perf.md"))
    args = parser.parse_args(argv)
    cfg = PerfConfig(repeats=args.repeats)
    console = console or Console()
    info = machine()
    for key, value in info.items():
        console.print(f"{key}: {value}")
    rows, goals = run(cfg)
    for table in tables(rows, goals):
        console.print(table)
    write_atomic(args.out, markdown(rows, goals, info, cfg))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
