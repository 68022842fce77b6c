"""The study as experiments: a run's written outputs, and comparisons of many runs.

- :mod:`minimtl.study.run`: train (or resume), score and write a run folder; score a saved run
- :mod:`minimtl.study.report` and :mod:`minimtl.study.plots`: report.md, CSV files and PNG plots
- :mod:`minimtl.study.compare`, :mod:`minimtl.study.compare_runs`, :mod:`minimtl.study.compare_report`:
  every architecture over several seeds, aggregated with intervals and paired tests
"""
