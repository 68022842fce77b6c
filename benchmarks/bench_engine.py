"""Time the engine's Numba kernels against their NumPy twins.

Convolution at the study's first layer (batch 8, 1 -> 32 channels, 3x3, 256x256,
float32) and one Adam step at the study's model size (132 million float32
weights; --adam-size for less memory: the run needs about 10 bytes x 4 arrays
per weight, ~5 GB at full size).

Method: each kernel runs once first (JIT compilation, or loading Numba's cache),
then ``--repeats`` timed calls with time.perf_counter; the median is reported
(fewer repeats for the slow references). "max rel diff" is
max|numba - reference| / max|reference| on the same inputs.

Usage: python benchmarks/bench_engine.py [--repeats 20] [--adam-size 132000000] [--seed 0]
"""

import argparse

import numba
import numpy as np
from timing import median_ms  # benchmarks/timing.py, beside this script

from minimtl.kernels import adam_numba, adam_reference, conv2d_numba, conv2d_reference
from minimtl.nn.layers import Conv2D

N, C, F, H, W, K = 8, 1, 32, 256, 256, 3


def max_rel_diff(actual, expected):
    return float(np.max(np.abs(actual.astype(np.float64) - expected)) / max(np.max(np.abs(expected)), 1e-30))


def report(name, fast_ms, ref_ms, diff):
    speedup = f"{ref_ms / fast_ms:7.1f}x" if ref_ms else "      -"
    ref = f"{ref_ms:10.1f}" if ref_ms else "         -"
    print(f"{name:34s} {fast_ms:9.2f} {ref} {speedup}   {diff:.1e}")


def bench_conv(rng, repeats):
    x = rng.random((N, C, H, W), dtype=np.float32)  # images scaled to [0, 1]
    weights = (rng.standard_normal((F, C, K, K)) * 0.1).astype(np.float32)
    b = (rng.standard_normal(F) * 0.1).astype(np.float32)
    out_shape = (N, F, H - K + 1, W - K + 1)
    dout = (rng.standard_normal(out_shape) * 1e-3).astype(np.float32)
    ref_repeats = max(3, repeats // 5)
    results = {}
    for relu in (False, True):
        fast, ref = np.empty(out_shape, np.float32), np.empty(out_shape, np.float32)
        fast_ms = median_ms(lambda: conv2d_numba.conv2d_forward(x, weights, b, fast, relu), repeats)
        ref_ms = median_ms(lambda: conv2d_reference.conv2d_forward(x, weights, b, ref, relu), ref_repeats)
        name = "conv forward + fused ReLU" if relu else "conv forward"
        report(name, fast_ms, ref_ms, max_rel_diff(fast, ref))
        results[name] = fast_ms
    dW, db = np.empty_like(weights), np.empty_like(b)
    dW_ref, db_ref = np.empty_like(weights), np.empty_like(b)
    fast_ms = median_ms(lambda: conv2d_numba.conv2d_backward_weights(x, dout, dW, db), repeats)
    ref_ms = median_ms(lambda: conv2d_reference.conv2d_backward_weights(x, dout, dW_ref, db_ref), ref_repeats)
    report("conv weight+bias gradient", fast_ms, ref_ms, max(max_rel_diff(dW, dW_ref), max_rel_diff(db, db_ref)))
    results["conv weight+bias gradient"] = fast_ms
    dx, dx_ref = np.empty_like(x), np.empty_like(x)
    fast_ms = median_ms(lambda: conv2d_numba.conv2d_backward_input(dout, weights, dx), repeats)
    ref_ms = median_ms(lambda: conv2d_reference.conv2d_backward_input(dout, weights, dx_ref), ref_repeats)
    report("conv input gradient", fast_ms, ref_ms, max_rel_diff(dx, dx_ref))

    layer = Conv2D(C, F, K, rng=rng, relu=True, input_grad=False)

    def layer_step():
        layer.forward(x)
        layer.backward(dout)

    layer_ms = median_ms(layer_step, repeats)
    report("Conv2D layer fwd+bwd (ReLU, no dx)", layer_ms, 0.0, 0.0)
    print(
        f"  -> forward (fused ReLU) + weight gradient: "
        f"{results['conv forward + fused ReLU'] + results['conv weight+bias gradient']:.2f} ms"
    )


def bench_adam(rng, size, repeats):
    w = rng.standard_normal(size, dtype=np.float32)
    g = rng.standard_normal(size, dtype=np.float32)
    m = np.zeros(size, np.float32)
    v = np.zeros(size, np.float32)
    w_ref, m_ref, v_ref = w.copy(), m.copy(), v.copy()
    args = (1e-3, 0.9, 0.999, 1e-7)
    adam_numba.adam_update(w, g, m, v, *args)  # one step each on equal inputs, for the difference
    adam_reference.adam_update(w_ref, g, m_ref, v_ref, *args)
    diff = max(max_rel_diff(w, w_ref), max_rel_diff(m, m_ref), max_rel_diff(v, v_ref))
    fast_ms = median_ms(lambda: adam_numba.adam_update(w, g, m, v, *args), max(3, repeats // 4))
    ref_ms = median_ms(lambda: adam_reference.adam_update(w_ref, g, m_ref, v_ref, *args), 3)
    report(f"Adam step, {size / 1e6:.0f}M float32 weights", fast_ms, ref_ms, diff)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per Numba kernel (default 20)")
    parser.add_argument(
        "--adam-size",
        type=int,
        default=132_000_000,
        help="weights in the Adam benchmark (default 132,000,000; 0 skips it)",
    )
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    if options.repeats < 1 or options.adam_size < 0:
        parser.error("--repeats must be >= 1 and --adam-size >= 0")
    rng = np.random.default_rng(options.seed)
    # one tiny parallel call, so that numba has chosen its threading layer before we print it
    conv2d_numba.relu_backward_mask(*(np.zeros((1, 1, 1, 1), np.float32) for _ in range(3)))
    print(
        f"numba {numba.__version__}, numpy {np.__version__}, numba threads: {numba.get_num_threads()}, "
        f"threading layer: {numba.threading_layer()}"
    )
    print(f"conv: batch {N}, {C} -> {F} channels, {K}x{K}, {H}x{W}, float32; medians in ms")
    print(f"{'kernel':34s} {'numba ms':>9s} {'numpy ms':>10s} {'speedup':>8s}   max rel diff")
    bench_conv(rng, options.repeats)
    if options.adam_size:
        bench_adam(rng, options.adam_size, options.repeats)


if __name__ == "__main__":
    main()
