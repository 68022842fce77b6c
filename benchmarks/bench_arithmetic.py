"""Time the fused step's kernels with their weights in the L3 cache: their arithmetic alone.

The images are cut to one block's height (the fused layout's rows per block, plus the kernel's 2),
so each block has the same shape and loops as at S px; with 8 filters' worth of rows, W, m and v
(6 MB at 256 px, whatever the number of heads) stay in the L3 cache between calls. The time per
weight, scaled to the S px weight count, is what the step costs when DRAM is out of the way: where
it is as long as the real kernel's (``bench_kernels.py``), the kernel is bound by its arithmetic
(and cache traffic), and no better overlap with memory traffic can bring it down to the floor.
Each row is the median of 5 x --repeats calls after warm-up; "x floor" is against the full layer's
bytes at the bandwidth measured in the same run.

Usage:
    python benchmarks/bench_arithmetic.py --sizes 256
Options: --sizes 64,128,256  --repeats 10  --bandwidth-size 67108864  --json  --seed 0
"""

import argparse
import json
import os
import sys

import numpy as np
from timing import (  # benchmarks/timing.py, beside this script
    BATCH,
    FILTERS,
    UNITS,
    Report,
    add_size_options,
    describe_machine,
    log,
    machine,
    measure_bandwidth,
    median_ms,
    parse_sizes,
)

from minimtl.fast import fused_step_numba


def bench_arithmetic(size, report, rng, repeats):
    side = size - 2
    rows = max(1, min(side, fused_step_numba.ROWS_PER_BLOCK // side))
    x = rng.random((BATCH, 1, rows + 2, size), dtype=np.float32)
    for heads in (1, 2):
        filters = 8 // heads
        Wc = (rng.standard_normal((filters, 1, 3, 3)) * 0.14).astype(np.float32)
        bc = np.zeros(filters, np.float32)
        D = filters * rows * side
        Ws = tuple(((rng.random((D, UNITS), dtype=np.float32) - 0.5) * 0.003) for _ in range(heads))
        bs = tuple(np.zeros(UNITS, np.float32) for _ in range(heads))
        outs = tuple(np.empty((BATCH, UNITS), np.float32) for _ in range(heads))
        douts = tuple((rng.standard_normal((BATCH, UNITS)) * 1e-3).astype(np.float32) for _ in range(heads))
        ms_, vs_ = tuple(np.zeros_like(W) for W in Ws), tuple(np.zeros_like(W) for W in Ws)
        dWc, dbc = np.empty_like(Wc), np.empty_like(bc)
        scale = (FILTERS * side * side) / D  # weights at S px / weights here
        w_bytes = 4 * FILTERS * side * side * UNITS * heads
        label = f"{heads} head{'s' if heads > 1 else ''}"
        forward_ms = median_ms(lambda: fused_step_numba.conv_dense_forward(x, Wc, bc, Ws, bs, outs), 5 * repeats)
        report.add(
            f"fused forward, weights in cache, {label}",
            size,
            forward_ms * scale,
            w_bytes,
            note="W, m, v in L3; scaled to the full layer",
        )
        backward_ms = median_ms(
            lambda: fused_step_numba.conv_dense_backward_adam(
                x, Wc, bc, Ws, douts, ms_, vs_, dWc, dbc, 1e-6, 0.9, 0.999, 1e-7
            ),
            5 * repeats,
        )
        report.add(
            f"fused backward + Adam, weights in cache, {label}",
            size,
            backward_ms * scale,
            6 * w_bytes,
            note="W, m, v in L3; scaled to the full layer",
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_size_options(parser)
    options = parser.parse_args()
    sizes = parse_sizes(parser, options)
    rng = np.random.default_rng(options.seed)
    bandwidth = measure_bandwidth(options.bandwidth_size, max(5, options.repeats))
    info = machine()
    describe_machine(info, bandwidth, "not used", options.json)
    report = Report(options.json, bandwidth["floor_mix_GBps"])
    for size in sizes:
        bench_arithmetic(size, report, rng, options.repeats)
    info["load_average_end"] = os.getloadavg()
    log(f"load average at the start {info['load_average'][0]:.2f}, at the end {info['load_average_end'][0]:.2f}",
        options.json)  # fmt: skip
    if options.json:
        doc = {"machine": info, "bandwidth": bandwidth, "repeats": options.repeats, "rows": report.rows}
        json.dump(doc, sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    main()
