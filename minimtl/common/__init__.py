"""What every layer of minimtl may use: atomic file writes, the layout of a run folder, progress callbacks.

Nothing here knows about networks or images; every other package may import from here.
"""
