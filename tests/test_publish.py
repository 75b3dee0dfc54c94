"""bench publish: the published run set holds each run's text files (never weights), replaces
the previous set whole, and rebuilds the same pages as the user's results."""
import pytest
from test_runner import run

from bench.errors import DataError
from bench.publish import RUN_FILES, publish
from bench.reevaluate import reevaluate
from bench.report import leaderboard_text


def test_published_runs_keep_text_not_weights(tmp_path):
    outcome = run(tmp_path, extra=["method.frames=4"])
    results, data = tmp_path / "results", tmp_path / "data"
    reevaluate(outcome.record["run_id"], ["tcc"], "val", results, data)
    published = publish(results, tmp_path / "published")
    assert [p.name for p in published] == [outcome.directory.name]
    files = {p.relative_to(published[0]).as_posix() for p in published[0].rglob("*") if p.is_file()}
    assert files == {*RUN_FILES, "evaluations/tcc-val.json"}
    for name in RUN_FILES:
        assert (published[0] / name).read_bytes() == (outcome.directory / name).read_bytes()
    # The published records alone rebuild the user's leaderboard, row for row.
    assert leaderboard_text(tmp_path / "published").split("\n## ")[1:] == leaderboard_text(results).split("\n## ")[1:]


def test_publish_replaces_the_previous_set(tmp_path):
    first = run(tmp_path, extra=["method.frames=4"])
    publish(tmp_path / "results", tmp_path / "published")
    second = run(tmp_path, extra=["method.frames=6"])
    (first.directory / "record.json").unlink()  # no longer a finished run
    published = publish(tmp_path / "results", tmp_path / "published")
    assert [p.name for p in published] == [second.directory.name]


def test_nothing_to_publish_is_one_line(tmp_path):
    with pytest.raises(DataError, match="no finished run under .* to publish"):
        publish(tmp_path / "results", tmp_path / "published")
    assert not (tmp_path / "published").exists()


def test_publish_command_rebuilds_the_published_pages(tmp_path, capsys):
    from bench.cli import main

    run(tmp_path, extra=["method.frames=4"])
    published = tmp_path / "published"
    assert main(["publish", "--results", str(tmp_path / "results"), "--to", str(published)]) == 0
    first = (published / "LEADERBOARD.md").read_text()
    assert main(["report", "--results", str(published)]) == 0
    assert (published / "LEADERBOARD.md").read_text() == first
    assert "published 1 runs" in capsys.readouterr().out
