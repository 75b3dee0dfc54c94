"""`make badinput`: run every row of the bad-input table (tests/bad_inputs.py) as the real
`bench` command in a fresh directory, plus a full disk (a 20 kB file-size limit while the
first checkpoint is written), and print a Markdown table: case, exit status, the one line.

Exits 1 if any row does not end with status 2 and exactly one `error: ...` line that
contains the row's expected text.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from bad_inputs import CASES, RUN, Case, prepare_data

DISK_FULL = Case("disk full while checkpointing (20 kB file-size limit)",
                 [*RUN, "--set", "trainer.checkpoint_every=1"], "no space left to write", prepare_data)
FILE_SIZE_LIMIT = 20_000


def run_case(case: Case) -> tuple[str, int, list[str], bool]:
    """(kind, exit status, stderr lines, as expected?) of one case, in its own directory."""
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        if case.setup is not None:
            case.setup(cwd)
        limit = None
        if case is DISK_FULL:
            def limit() -> None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
        result = subprocess.run([sys.executable, "-m", "bench.cli", *case.args], cwd=cwd, capture_output=True,
                                text=True, timeout=600, preexec_fn=limit, env={**os.environ, "COLUMNS": "200"})
    lines = result.stderr.strip().splitlines()
    ok = result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and case.needle in lines[0]
    return case.kind, result.returncode, lines, ok


def main() -> int:
    cases = [c for c in CASES if not (c.needs_no_gpu and torch.cuda.is_available())] + [DISK_FULL]
    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(run_case, cases))
    print("| case | exit | the one line |")
    print("|---|---:|---|")
    for kind, status, lines, ok in rows:
        text = " / ".join(lines).replace("|", "\\|")
        print(f"| {kind}{'' if ok else ' **(unexpected)**'} | {status} | {text} |")
    bad = [kind for kind, _status, _lines, ok in rows if not ok]
    print(f"\n{len(rows) - len(bad)} of {len(rows)} rows end with exit 2 and one line naming the problem"
          + (f"; unexpected: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
