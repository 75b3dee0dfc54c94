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
# the dataset's 300 steps each, seeded TPE, median pruning), then the default and the tuned
# configs on seeds 0 1 2, then the pages: results/TUNING.md and results/LEADERBOARD.md.
TUNE_TRIALS ?= 8
TUNE_SEEDS ?= 0 1 2
tune: $(STAMP)
	@for method in $$($(PY) -c "from bench.registry import METHODS; print(*(m for m in METHODS.names() if METHODS.get(m).trainable))"); do \
		$(VENV)/bin/bench tune --method $$method --dataset synthetic --trials $(TUNE_TRIALS) || exit $$?; \
	done
	$(VENV)/bin/bench suite --dataset synthetic --seeds $(TUNE_SEEDS)
	$(VENV)/bin/bench suite --dataset synthetic --tuned --seeds $(TUNE_SEEDS)
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
