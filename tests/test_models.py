"""Each architecture's layers, output shapes and parameter counts, pinned against the study's Keras models.

The counts are those of the study's Keras model summaries (../shared/study.md, section 1.5): 256 px
grayscale input, Conv2D(32, 3x3, 'valid') ReLU, Flatten (254 * 254 * 32 = 2,064,512 features), then
each head's Dense layers. Built with rng=None (zero weights, nothing drawn), so the 256 px models
cost no time.
"""

import pytest

from minimtl.nn.graph import parameter_count
from minimtl.training.models import ARCHITECTURES, build_model

TRUNK = [
    ("trunk.conv", "Conv2D(1 -> 32, 3x3, relu)", (32, 254, 254), 320),
    ("trunk.flatten", "Flatten()", (2_064_512,), 0),
]


def head(name, units, outputs):
    return [
        (f"heads.{name}.dense1", f"Dense(2064512 -> {units})", (units,), 2_064_512 * units + units),
        (f"heads.{name}.relu", "ReLU()", (units,), 0),
        (f"heads.{name}.dense2", f"Dense({units} -> {outputs})", (outputs,), units * outputs + outputs),
    ]


STUDY = {  # arch: (layers, the study's parameter count)
    "single-pneumonia": (TRUNK + head("pneumonia", 64, 2), 132_129_282),
    "single-tb": (TRUNK + head("tb", 64, 2), 132_129_282),
    "multiclass": (TRUNK + head("multiclass", 64, 3), 132_129_347),
    "multitask64": (TRUNK + head("tb", 64, 2) + head("pneumonia", 64, 2), 264_258_244),
    "multitask32": (TRUNK + head("tb", 32, 2) + head("pneumonia", 32, 2), 132_129_284),
    "single-tb-negatives": (TRUNK + head("tb", 64, 2), 132_129_282),  # single-tb's network (not the study's)
}


def test_every_architecture_is_pinned():
    assert set(STUDY) == set(ARCHITECTURES)


@pytest.mark.parametrize("arch", list(STUDY))
def test_layers_shapes_and_counts_match_the_study(arch):
    layers, study_count = STUDY[arch]
    model = build_model(arch, 256, rng=None)
    rows, features = model.trunk.summary_rows((1, 256, 256), "trunk.")
    for name, head_net in model.heads.items():
        rows += head_net.summary_rows(features, f"heads.{name}.")[0]
    assert rows == layers
    assert sum(count for *_, count in layers) == study_count == parameter_count(model)
    assert f"{study_count:,} parameters" in repr(model)  # print(model) shows the total at a glance


def test_sigmoid_heads_have_one_logit():
    model = build_model("multitask64", 32, rng=None, head="sigmoid")
    assert [layer.params["W"].shape[1] for layer in (dict(h.layers)["dense2"] for h in model.heads.values())] == [1, 1]
