"""``bench tune``: equal-budget hyperparameter search with Optuna (docs/TUNING.md).

space (what is searched), storage (where a study lives and how workers take turns), study
(a study and its budget), objective (one trial: a run on the tune split, pruned early when
it trails), worker (the loop that finishes exactly N trials across processes and hosts),
tuned (a study's best config, for ``bench suite --tuned``), report (TUNING.md and figures).
"""
