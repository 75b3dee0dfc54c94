"""bench.perf at tiny sizes: every benchmark runs and the report renders (timings are never asserted)."""
import mmap
import time

from rich.console import Console

from bench import perf
from bench.align.smith_waterman import smooth_sw
from bench.align.softdtw import soft_dtw
from bench.perf_training import PeakRSS, StepBenchmark

SMALL_RESNET = (("image_size", 16), ("hidden", 8), ("heads", 2), ("layers", 1), ("fc_widths", (8,)), ("embed_dim", 4))
SMALL_CNN = (("image_size", 16), ("cnn_channels", (4,)), ("hidden", 8), ("embed_dim", 4), ("layers", 1), ("heads", 2))
TINY = perf.PerfConfig(softdtw_shapes=((2, 6, 5),), hard=(3, 7, 4), sw_shape=(2, 5, 6), repeats=1, warmup=1,
                      peers=(),  # the peers' numba code is uncached: seconds of JIT per test run
                      cpu_steps=(StepBenchmark("cnn_transformer", 1, 2, 3, SMALL_CNN),
                                 StepBenchmark("resnet50_transformer", 1, 2, 2, SMALL_RESNET)),
                      step_repeats=1, step_warmup=0)


def test_run_produces_rows_targets_and_report(tmp_path):
    rows, goals = perf.run(TINY)
    gpu = [row for row in rows if row.section.startswith("GPU")]
    assert [(row.seconds, row.note) for row in gpu] == [(None, "unavailable: no CUDA device here")]  # CPU-only CI
    steps = [row for row in rows if row.section.startswith("training step")]
    assert [(row.section.split(",")[0], row.name) for row in steps] == [
        ("training step cpu: cnn_transformer", "whole encoder trains (no frozen part)"),
        ("training step cpu: resnet50_transformer", "uncached"),
        ("training step cpu: resnet50_transformer", "cached frozen features")]
    assert all(row.seconds > 0 and "steps/s, peak memory" in row.note for row in steps)
    assert "1 video(s) x 2 view(s) x 2 frames, 16 px" in steps[1].section
    ratios = [t for t in goals if t.quantity.startswith("resnet50_transformer training step (cpu)")]
    assert [t.quantity.split(": ")[1] for t in ratios] == ["uncached / cached time", "cached / uncached peak memory"]
    assert ratios[0].value == steps[1].seconds / steps[2].seconds
    rows = [row for row in rows if row not in gpu and row not in steps]
    assert [row.name for row in rows] == [
        "ours (numba)", "ours, torch reference",
        "ours: sq-Euclidean cost + dtw_path", "ours: dtw_path on given cost",
        "ours (numba), gaps 0.5/0.1, t=0.1", "ours, torch reference", "ours soft-DTW (numba), same shape",
    ]
    assert all(row.seconds is not None and row.seconds >= 0 for row in rows), rows
    agreement = {t.quantity.split(" gradient")[0]: t.value for t in goals if "gradient" in t.quantity}
    assert agreement.keys() == {"soft-DTW", "smooth SW"} and max(agreement.values()) < 1e-9
    assert len(goals) == 7

    console = Console(record=True, width=200)
    for table in perf.tables(rows, goals):
        console.print(table)
    assert "fastest peer / ours" in console.export_text()
    out = tmp_path / "sub" / "perf.md"
    perf.write_atomic(out, perf.markdown(rows, goals, perf.machine(), TINY))
    text = out.read_text()
    assert "| quantity | measured | target | met | note |" in text and "- CPU:" in text
    assert [p.name for p in out.parent.iterdir()] == ["perf.md"]  # no temporary left behind


def test_unavailable_peer_is_a_row_not_a_failure():
    def broken():
        raise RuntimeError("needs CUDA\nmore")

    row = perf.timed_row("s", "peer", broken, TINY)
    assert row.seconds is None and row.note == "unavailable: RuntimeError: needs CUDA"
    goals = perf.targets([perf.Row("soft-DTW fwd+bwd 2x6x5", "ours (numba)", 1.0)], {}, TINY)
    assert goals[0].value is None and goals[0].met is None and goals[0].note == "no peer ran"


def test_operators_dispatch_auto_through_the_notice(monkeypatch):
    seen = []

    def fake(device_type, op):
        seen.append((device_type, op))
        return "torch"

    monkeypatch.setattr("bench.align.softdtw.auto_backend", fake)
    monkeypatch.setattr("bench.align.smith_waterman.auto_backend", fake)
    cost = perf.random_cost((1, 3, 4), 0)
    soft_dtw(cost, 0.1)
    smooth_sw(cost, 0.5, 0.1, 0.8)
    assert seen == [("cpu", "soft_dtw"), ("cpu", "smooth_sw")]


def test_peak_rss_sees_a_transient_allocation():
    with PeakRSS() as rss:
        # 64 MiB of fresh anonymous pages, touched: an allocator could hand back memory that is
        # already resident (the suite's earlier tests freed plenty), a new mapping cannot.
        block = mmap.mmap(-1, 64 * 2**20)
        block.write(b"\1" * len(block))
        deadline = time.monotonic() + 10  # the sampler may wait for a core on a loaded machine
        while rss.megabytes < 48 and time.monotonic() < deadline:
            time.sleep(0.01)
        block.close()
    assert 48 <= rss.megabytes < 1024
