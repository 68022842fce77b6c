"""Every architecture over several seeds: what runs (:mod:`~minimtl.study.compare.variants`), running
them (:mod:`~minimtl.study.compare.runs`), the statistics (:mod:`~minimtl.study.compare.statistics`,
:mod:`~minimtl.study.compare.delong`), the table rows (:mod:`~minimtl.study.compare.summarise`) and
the written table, summary and plots (:mod:`~minimtl.study.compare.report`)."""
