"""results/PROTOCOLS.md: every run's headline metrics under every preset, the shifts and orders, by hand."""
import json

from bench.protocol.config import HEADLINE_METRICS
from bench.protocol_report import collect, render_protocols, write_protocols


def write_run(root, label, seed, bench_value, lav_value):
    run = root / "runs" / "toy" / label / f"id{label}{seed}"
    (run / "evaluations").mkdir(parents=True)
    metrics = {m: bench_value for m in HEADLINE_METRICS}
    (run / "record.json").write_text(json.dumps({"dataset": "toy", "label": label, "seed": seed,
                                                 "protocol": "bench", "metrics": metrics}))
    lav = {m: lav_value for m in HEADLINE_METRICS if m != "progression"}
    (run / "evaluations" / "lav-val.json").write_text(json.dumps({"protocol": "lav", "split": "val", "metrics": lav}))
    (run / "evaluations" / "lav-tune.json").write_text(json.dumps({"protocol": "lav", "split": "tune",
                                                                     "metrics": {m: 0.0 for m in HEADLINE_METRICS}}))


def test_shifts_orders_and_tables_by_hand(tmp_path):
    # bench 10, 20, 30 -> lav 15, 21, 29: shifts +5, +1, -1 -> mean +1.67, min -1, max +5;
    # the order is 10<20<30 vs 15<21<29, the same: tau 1. Progression: lav has none -> "-".
    for label, bench_value, lav_value in (("a", 10.0, 15.0), ("b", 20.0, 21.0), ("c", 30.0, 29.0)):
        write_run(tmp_path, label, 0, bench_value, lav_value)
    tables = collect(tmp_path)
    assert [row[0] for row in tables["toy"]] == ["a", "b", "c"]
    text = render_protocols(tables)
    assert "| classification@0.10 | +1.67 (-1.00 .. +5.00) | 1.00 |" in text
    assert "| progression | - | - |" in text
    assert "| a | 0 | 10.00 | 15.00 |" in text and "| b | 0 | 20.00 | 21.00 |" in text
    assert "not a held-out accuracy" in text   # the lav leak is said
    tau_rows = text.split("### kendalls_tau")[1].split("###")[0].splitlines()
    assert "| a | 0 | 10.00 | 15.00 |" in tau_rows   # the lav tune-split values (0.00) are not shown


def test_written_only_with_reevaluations_and_rebuilt_identically(tmp_path):
    assert write_protocols(tmp_path) is None
    write_run(tmp_path, "a", 0, 10.0, 12.0)
    first = write_protocols(tmp_path).read_text()
    assert write_protocols(tmp_path).read_text() == first
