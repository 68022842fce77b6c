"""One run: train it and write its folder (:mod:`~minimtl.study.run.write`, with
:mod:`~minimtl.study.run.report`, :mod:`~minimtl.study.run.plots` and
:mod:`~minimtl.study.run.conflict_plot`), and read a finished run back
(:mod:`~minimtl.study.run.saved_run`)."""
