"""minimtl: multi-task learning on chest X-rays, written out by hand.

The folders are the layers of the program, each importing only from the ones listed before it:

- ``common``: atomic file writes, the files of a run folder, progress callbacks
- ``kernels``: the Numba kernels of the layers and their readable NumPy twins
- ``nn``: layers with forward and backward passes, the graph, losses, Adam, gradient checks
- ``fast``: the fused training step (an optimisation of ``nn``'s arithmetic)
- ``data``: finding, decoding, caching and splitting the chest X-ray images
- ``training``: the study's models, their targets, the training loop, scoring
- ``study``: a run's report, and comparisons over architectures and seeds
- ``commands``: the command line (``python cli.py``)

docs/tutorial.md is the guided reading; docs/design.md maps every module.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
