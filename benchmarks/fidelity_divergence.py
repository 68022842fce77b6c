"""How far do minimtl and its PyTorch twin drift apart from the same start? The arithmetic alone.

minimtl's fused step, its readable step (the same arithmetic summed in another order: minimtl against
itself) and the PyTorch twin of ``benchmarks/torch_twin.py`` (given minimtl's initial weights) train
on minimtl's split and batch order for one seed, step by step. After each of the steps asked for, the
script prints how far the twin's weights and the readable step's are from the fused step's: the
largest max|difference| / max|weight| of any weight array (and which array), and ||difference|| /
||weights|| over all weights. Rounding differences grow with every step; a bug would show at step 1.
Whether the two frameworks' heads collapse as often when each starts from its own weights is
``fidelity_collapse.py``.

Examples::

    python benchmarks/fidelity_divergence.py --variant single-tb --image-size 64 --steps 1,10,50,100,200,300
    python benchmarks/fidelity_divergence.py --phantoms --image-size 16 --steps 1,3 --json

Needs PyTorch (``pip install -e '.[reference]'``).
"""

import argparse
import json
import sys

import numpy as np
from timing import (  # benchmarks/timing.py, beside this script
    VARIANT_NAMES,
    add_image_options,
    add_variant_options,
    echo,
    load_images,
    minimtl_split,
    torch_twin_module,
    variant_config,
)

from minimtl.data import to_input
from minimtl.study.compare.variants import PROTOCOLS
from minimtl.training.config import RunConfig
from minimtl.training.loop import seed_streams
from minimtl.training.models import ARCHITECTURES


def relative_differences(ours, theirs):
    """How far two sets of weights (dicts name -> array of the same shapes) are apart.

    Returns {"max": max over arrays of max|ours - theirs| / max|theirs|, "array": the array where that
    is largest, "norm": ||ours - theirs|| / ||theirs|| over all weights together}.
    """
    per_array = {
        name: float(np.abs(ours[name].astype(np.float64) - theirs[name]).max() / max(np.abs(theirs[name]).max(), 1e-30))
        for name in theirs
    }
    worst = max(per_array, key=per_array.get)
    squares = sum(float(np.sum((ours[name].astype(np.float64) - theirs[name]) ** 2)) for name in theirs)
    norm = sum(float(np.sum(theirs[name].astype(np.float64) ** 2)) for name in theirs)
    return {"max": per_array[worst], "array": worst, "norm": (squares / norm) ** 0.5}


def divergence(twin, config, collection, report_steps, threads):
    """How fast minimtl and the twin part when they start from the same weights and see the same batches.

    minimtl's fused step, its readable step (the same arithmetic summed in another order: minimtl
    against itself) and the twin (given minimtl's initial weights) train on minimtl's split and batch
    order for ``config.seed``. Returns one row per step of ``report_steps``: {"step", "twin",
    "readable"}, each :func:`relative_differences` against minimtl's fused step.
    """
    import torch

    from minimtl.nn.optim import Adam
    from minimtl.training.models import build_model
    from minimtl.training.objective import total_loss
    from minimtl.training.steps import make_step
    from minimtl.training.tasks import head_targets

    torch.set_num_threads(threads)
    spec = ARCHITECTURES[config.arch]
    split = minimtl_split(config, collection)
    _, init_rng, shuffle_rng = seed_streams(config.seed)
    fused = build_model(config.arch, config.image_size, init_rng, head=config.head)
    readable = build_model(config.arch, config.image_size, seed_streams(config.seed)[1], head=config.head)
    net = twin.TorchTwin(config.arch, config.image_size, config.head, params=twin.from_minimtl_layout(fused.params))
    steps = {
        "fused": make_step("fused", fused, Adam(fused.params, config.lr, config.beta1, config.beta2, config.eps)),
        "readable": make_step(
            "readable", readable, Adam(readable.params, config.lr, config.beta1, config.beta2, config.eps)
        ),
    }
    optimizer = twin.KerasAdam(net.params.values(), config.lr, config.beta1, config.beta2, config.eps)
    rows, t, last = [], 0, max(report_steps)
    while t < last:
        order = shuffle_rng.permutation(split.train)  # one epoch, as minimtl's epoch_batches draws it
        for start in range(0, len(order), config.batch_size):
            index = order[start : start + config.batch_size]
            x = to_input(collection.images[index])
            targets = head_targets(spec, collection.dataset[index], collection.labels[index], config.other_labels)
            for step in steps.values():
                logits = {name: z.copy() for name, z in step.forward(x).items()}
                step.backward_and_update(total_loss(logits, targets)[2])
            twin_targets = twin.twin_targets(
                config.arch, collection.dataset[index], collection.labels[index], config.other_labels
            )
            twin.train_step(net, optimizer, torch.from_numpy(x), twin_targets)
            t += 1
            if t in report_steps:
                rows.append(
                    {
                        "step": t,
                        "twin": relative_differences(fused.params, net.minimtl_layout()),
                        "readable": relative_differences(readable.params, fused.params),
                    }
                )
                echo(f"step {t}: minimtl vs PyTorch {rows[-1]['twin']}, fused vs readable {rows[-1]['readable']}")
            if t == last:
                break
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="How far minimtl's fused step, its readable step and the PyTorch twin drift apart from the same "
        "weights and batches (see the module docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_variant_options(parser)  # --variant, --other-labels, --head, --image-size
    parser.add_argument("--protocol", default="study", choices=sorted(PROTOCOLS), help="whose split")
    parser.add_argument("--seed", type=int, default=0, help="the initial weights, split and batch order")
    parser.add_argument("--steps", default="1,10,100", help="after which steps to compare, comma separated")
    add_image_options(parser)  # --data-dir, --phantoms, --phantoms-per-class
    parser.add_argument("--torch-threads", type=int, default=1, help="PyTorch's threads")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of Markdown")
    options = parser.parse_args(argv)
    try:
        options.steps = sorted({int(step) for step in options.steps.split(",") if step.strip()})
    except ValueError:
        parser.error(f"--steps takes step numbers separated by commas; got {options.steps!r}")
    if not options.steps or options.steps[0] < 1:
        parser.error(f"--steps takes step numbers of at least 1; got {options.steps!r}")
    return options


def main(argv=None):
    options = parse_args(argv)
    twin = torch_twin_module()
    if twin is None:
        sys.exit("this script compares minimtl with its PyTorch twin: install PyTorch (pip install -e '.[reference]')")
    collection, data = load_images(options.data_dir, options.phantoms, options.phantoms_per_class, options.image_size)
    variant = VARIANT_NAMES[options.variant]
    base = RunConfig(image_size=options.image_size, head=options.head)
    config = variant_config(base, variant, options.protocol, options.seed, options.other_labels or variant.other_labels)
    echo(f"{options.variant}, {options.image_size} px, seed {config.seed}, {data}: same weights, same batches")
    rows = divergence(twin, config, collection, options.steps, options.torch_threads)
    if options.json:
        print(json.dumps({"variant": options.variant, "image_size": options.image_size, "data": data, "rows": rows}))
        return
    print(
        f"**{options.variant}**, {options.image_size} px, seed {config.seed}, {data}: minimtl's fused step against "
        "the PyTorch twin and against minimtl's readable step, from the same initial weights and batches. max: "
        "the largest max|difference| / max|weight| of any weight array (and which); norm: ||difference|| / "
        "||weights|| over all weights.\n"
    )
    print(
        "| steps | PyTorch twin, max (array) | PyTorch twin, norm | readable step, max (array) | readable step, norm |"
    )
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        twin_row, readable_row = row["twin"], row["readable"]
        print(
            f"| {row['step']} | {twin_row['max']:.1e} ({twin_row['array']}) | {twin_row['norm']:.1e} | "
            f"{readable_row['max']:.1e} ({readable_row['array']}) | {readable_row['norm']:.1e} |"
        )


if __name__ == "__main__":
    main()
