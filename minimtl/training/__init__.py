"""Training and scoring the study's networks.

- :mod:`minimtl.training.models`: the five architectures, built from :mod:`minimtl.nn`
- :mod:`minimtl.training.tasks`: each head's labels and masks; each task's scores on its own images
- :mod:`minimtl.training.objective`: the total loss, the sum of the heads' masked losses
- :mod:`minimtl.training.config`: ``RunConfig``, every option of a run
- :mod:`minimtl.training.steps`: the readable and the fused training step, one interface
- :mod:`minimtl.training.trainer`: ``build_trainer``, a run's model, Adam, step and multi-task update
  built from its options (the run, compare's time estimate and the benchmarks build them there)
- :mod:`minimtl.training.loop`: the plain training loop (a step and batches in, losses out; no files)
- :mod:`minimtl.training.train`: ``DurableRun``, that loop made durable in a run folder: seeded,
  checkpointed, resumable
- :mod:`minimtl.training.checkpoint`: one-file checkpoints
- :mod:`minimtl.training.evaluation` and :mod:`minimtl.training.metrics`: logits in batches, rates
  with intervals, ROC-AUC
"""
