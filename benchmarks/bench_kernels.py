"""Time each kernel of a training step at S px against the memory-bandwidth floor measured in the same run.

A step's big arrays are the heads' first Dense layers: D x 64 weights per head, D = 32 (S-2)^2 inputs
(132 million at 256 px). Each kernel must at least move the bytes listed per row; the floor of a kernel
is those bytes over the bandwidth of ``timing.measure_bandwidth``. Timed, each as the median of
--repeats calls after warm-up (JIT compilation), at batch 8:

- the convolution kernels (1 -> 32 channels, 3x3, S x S): forward with the fused ReLU, and the weight
  gradient with the ReLU mask;
- the Dense layer kernels at D inputs and 64 units, and Adam alone (the readable step's path);
- the fused step's kernels (``minimtl/fast/fused_step_numba.py``: conv + ReLU + the heads' first
  Dense layers forward; their backward with Adam), for one head and for two heads in one pass.

Whole steps are ``bench_step.py``; the fused kernels' arithmetic alone (weights in cache) is
``bench_arithmetic.py``.

Usage:
    python benchmarks/bench_kernels.py                  # 64, 128, 256 px
    python benchmarks/bench_kernels.py --sizes 256 --json > kernels.json
Options: --sizes 64,128,256  --repeats 10  --bandwidth-size 67108864  --json  --seed 0
"""

import argparse
import gc
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
from minimtl.kernels import adam_numba, conv2d_numba, dense_numba


def bench_kernels(size, report, rng, repeats):
    side = size - 2
    D = FILTERS * side * side
    x = rng.random((BATCH, 1, size, size), dtype=np.float32)
    Wc = (rng.standard_normal((FILTERS, 1, 3, 3)) * 0.14).astype(np.float32)
    bc = np.zeros(FILTERS, np.float32)
    out = np.empty((BATCH, FILTERS, side, side), np.float32)
    act_bytes = 4 * BATCH * D
    report.add(
        "conv forward + fused ReLU",
        size,
        median_ms(lambda: conv2d_numba.conv2d_forward(x, Wc, bc, out, True), repeats),
        act_bytes + x.nbytes,
    )
    dout = (rng.standard_normal(out.shape) * 1e-3).astype(np.float32)
    dWc, dbc = np.empty_like(Wc), np.empty_like(bc)
    report.add(
        "conv weight gradient, fused ReLU mask",
        size,
        median_ms(lambda: conv2d_numba.conv2d_backward_weights_relu(x, dout, out, dWc, dbc), repeats),
        2 * act_bytes + x.nbytes,
        note="reads dout, out, x",
    )

    features = out.reshape(BATCH, D)
    dead = float(np.mean(~np.any(features > 0, axis=0)))
    for heads in (1, 2):
        Ws = tuple(((rng.random((D, UNITS), dtype=np.float32) - 0.5) * 0.003) for _ in range(heads))
        bs = tuple(np.zeros(UNITS, np.float32) for _ in range(heads))
        outs = tuple(np.empty((BATCH, UNITS), np.float32) for _ in range(heads))
        w_bytes = 4 * D * UNITS * heads
        label = f"{heads} head{'s' if heads > 1 else ''}"
        douts = tuple((rng.standard_normal((BATCH, UNITS)) * 1e-3).astype(np.float32) for _ in range(heads))
        if heads == 1:
            report.add(
                "dense forward (layer kernel), 1 head",
                size,
                median_ms(lambda: dense_numba.dense_forward(features, Ws[0], bs[0], outs[0]), repeats),
                w_bytes + act_bytes,
            )
            dx, dW, db = np.empty_like(features), np.zeros_like(Ws[0]), np.empty_like(bs[0])
            report.add(
                "dense backward (layer kernel), 1 head",
                size,
                median_ms(lambda: dense_numba.dense_backward(features, Ws[0], douts[0], dW, db, dx), repeats),
                2 * w_bytes + 2 * act_bytes,
                note="reads W, writes dW and dx",
            )
            m, v = np.zeros_like(Ws[0]), np.zeros_like(Ws[0])
            report.add(
                "Adam alone, 1 head",
                size,
                median_ms(
                    lambda: adam_numba.adam_update(
                        Ws[0].reshape(-1), dW.reshape(-1), m.reshape(-1), v.reshape(-1), 1e-6, 0.9, 0.999, 1e-7
                    ),
                    repeats,
                ),
                7 * w_bytes,
            )
            dx = dW = m = v = None  # free the 528 MB arrays before the next ones
        report.add(
            f"fused conv+ReLU+dense forward, {label}",
            size,
            median_ms(lambda: fused_step_numba.conv_dense_forward(x, Wc, bc, Ws, bs, outs), repeats),
            w_bytes,
            note=f"{dead:.0%} of feature rows all zero",
        )
        ms_, vs_ = tuple(np.zeros_like(W) for W in Ws), tuple(np.zeros_like(W) for W in Ws)
        report.add(
            f"fused backward + Adam, {label}",
            size,
            median_ms(
                lambda: fused_step_numba.conv_dense_backward_adam(
                    x, Wc, bc, Ws, douts, ms_, vs_, dWc, dbc, 1e-6, 0.9, 0.999, 1e-7
                ),
                repeats,
            ),
            6 * w_bytes,
        )
        Ws = ms_ = vs_ = None  # free them before the next head count
        gc.collect()


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
        bench_kernels(size, report, rng, options.repeats)
    info["load_average_end"] = os.getloadavg()
    log(f"load average at the start {info['load_average'][0]:.2f}, at the end {info['load_average_end'][0]:.2f}",
        options.json)  # fmt: skip
    if options.json:
        doc = {"machine": info, "bandwidth": bandwidth, "repeats": options.repeats, "rows": report.rows}
        json.dump(doc, sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    main()
