"""The papers' reported numbers, as the project's own data, and what the harness measures beside them.

``tables``: the LAV, LRProp and LAC tables (bench/papers/data/*.csv) with each row mapped to a
registered method and variant and each metric to a protocol metric; ``measured``: the runs'
mean and std over seeds under a paper's protocol preset; ``rank``: Kendall's tau between the
paper's ordering of a table's rows and the measured one.
"""
