"""The study as experiments, in three rooms; each imports only from itself and the rooms before it.

- :mod:`minimtl.study.run`: one run: train it durably and write its folder (``write``), and read a
  finished one back (``saved_run``: the one reader every command goes through)
- :mod:`minimtl.study.explain`: what a saved model looks at (saliency), whether it learned the
  hospital (site separation), and how it copes with image shifts
- :mod:`minimtl.study.compare`: every architecture over several seeds, aggregated with intervals and
  paired tests
"""
