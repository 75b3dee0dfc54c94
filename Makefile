# Every target installs the project into .venv first when it is missing or stale.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: install test bench tune protocols report perf lint clean badinput

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS)

bench: $(STAMP)
	$(VENV)/bin/bench suite --dataset synthetic

# Equal-budget tuning of every trainable method on the synthetic dataset (TUNE_TRIALS trials of
# the dataset's 300 steps each, trial 0 = the defaults, seeded TPE, median pruning), then the
# default and the tuned configs on seeds TUNE_SEEDS, then the pages: results/TUNING.md and
# results/LEADERBOARD.md. Studies and runs go TUNE_LANES at a time, each process on one thread:
# on 2 cores two single-threaded runs side by side finish 1.67x sooner than the same two runs
# one after the other on two threads (measured: TCC, 150 steps, 41 s vs 69 s).
TUNE_TRIALS ?= 8
TUNE_SEEDS ?= 0 1 2
TUNE_LANES ?= 2
METHOD_NAMES = $(PY) -c "from bench.registry import METHODS; print(*(m for m in METHODS.names() if METHODS.get(m).trainable or '$(1)' == 'all'), sep='\n')"
LANES = OMP_NUM_THREADS=1 xargs -P $(TUNE_LANES) -I{}
tune: $(STAMP)
	$(call METHOD_NAMES,trainable) | $(LANES) $(VENV)/bin/bench tune --method {} --dataset synthetic --trials $(TUNE_TRIALS)
	$(call METHOD_NAMES,all) | $(LANES) $(VENV)/bin/bench suite --dataset synthetic --methods {} --seeds $(TUNE_SEEDS)
	$(call METHOD_NAMES,trainable) | $(LANES) $(VENV)/bin/bench suite --dataset synthetic --tuned --methods {} --seeds $(TUNE_SEEDS)
	$(VENV)/bin/bench report

# Rebuilds the published pages (results/published/*.md) from the published run records alone.
report: $(STAMP)
	$(VENV)/bin/bench report --results results/published --replace

# Re-scores every finished run under the paper presets (no retraining); writes results/PROTOCOLS.md.
protocols: $(STAMP)
	$(VENV)/bin/bench evaluate --all --protocol tcc carl lav
	$(VENV)/bin/bench report

# Times our alignment kernels against the torch references, tslearn and pysdtw; writes results/perf.md.
perf: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[perf]"
	$(PY) -m bench.perf

# Every kind of bad input, each as the real command: a table of case, exit status, the one line.
badinput: $(STAMP)
	$(PY) tests/bad_input_table.py

lint: $(STAMP)
	$(PY) -m pip install -q ruff
	$(VENV)/bin/ruff check bench methods datasets tests

clean:
	rm -rf $(VENV) data results/runs results/tuning results/checkpoints
