"""Cache prefetch hints for the Numba kernels. They change no result, only when data arrives.

``prefetch(array, i)`` asks the CPU to start loading the cache line that holds ``array[i]``
(``array`` one-dimensional, e.g. ``W.reshape(-1)``) so that a later load finds it in cache;
``prefetch_for_write(array, i)`` does the same for a line about to be overwritten. The fused
training step does enough arithmetic per 256-byte row of W that the CPU's own prefetcher falls
behind, and the step waits on memory and on arithmetic in turn; a hint a few rows ahead lets the
two overlap (about 15-20% faster at 256 px here, see docs/performance.md).

Each compiles to LLVM's ``llvm.prefetch`` intrinsic: a hint that never faults, whatever the
address. With NUMBA_DISABLE_JIT=1 (kernels run as plain Python) both do nothing.
"""

from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch", "prefetch_for_write"]


def _prefetch_intrinsic(for_write):
    """An intrinsic ``f(array, i)`` emitting llvm.prefetch(&array[i], rw, locality=3, data cache)."""

    def typer(typingctx, array, index):
        if not (isinstance(array, types.Array) and array.ndim == 1 and isinstance(index, types.Integer)):
            return None  # Numba then reports a typing error naming the arguments

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            address = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(8).as_pointer())
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            builder.call(fn, [address, ir.Constant(i32, int(for_write)), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(array, index), codegen

    typer.__name__ = "prefetch_for_write" if for_write else "prefetch"
    return intrinsic(typer)


if config.DISABLE_JIT:

    def prefetch(array, index):
        """No-op when the kernels run as plain Python."""

    def prefetch_for_write(array, index):
        """No-op when the kernels run as plain Python."""
else:
    prefetch = _prefetch_intrinsic(for_write=False)
    prefetch_for_write = _prefetch_intrinsic(for_write=True)
