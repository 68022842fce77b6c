"""Synthetic chest-X-ray-like phantoms, so that every command runs on a fresh machine.

``make_phantoms(n_per_class, image_size, seed)`` draws ``4 * n_per_class`` images, the same for the
same arguments. Each is bright where tissue is dense, like a radiograph: a body ellipse, two dark
lung fields with curved rib stripes, a bright mediastinum and heart, noise. Two "sites" differ the
way two hospitals do (patient size, contrast, noise, a collimation frame, a corner marker), so a
model can tell them apart, as it can tell Kermany's children from Shenzhen's adults:

- dataset ``"pneumonia"``, site ``"phantom-a"``: label 1 has 1 to 3 soft, diffuse opacities in the
  lower lung zones;
- dataset ``"tb"``, site ``"phantom-b"``: label 1 has a faint upper-zone infiltrate and either
  3 to 5 small nodules or one cavity (a bright ring around a dark centre) in the upper zones.

About a quarter of the images are a second image of an earlier patient (the same anatomy, moved
a little; lesions drawn anew), and a few of those in ``"pneumonia"`` are exact pixel duplicates,
as in the real Kermany set, so the patient split and the leak check have something to find.
``official_split`` is ``"train"``/``"test"`` (about 80/20 by patient) for ``"pneumonia"`` and
``""`` for ``"tb"``, as for the real sets.
"""

import hashlib

import numpy as np

from minimtl.data.collection import Collection

__all__ = ["make_phantoms", "PHANTOM_SITES"]

PHANTOM_SITES = {"pneumonia": "phantom-a", "tb": "phantom-b"}
_LABEL_NAMES = {"pneumonia": ("normal", "pneumonia"), "tb": ("normal", "tb")}
_BLOCKS = (("pneumonia", 0), ("pneumonia", 1), ("tb", 0), ("tb", 1))
# Per-site look: body width factor, gamma, noise sigma, collimation frame, corner marker.
_SITE_STYLE = {
    "pneumonia": dict(width=0.82, gamma=0.85, noise=0.035, frame=0.0, marker=1.0),
    "tb": dict(width=1.0, gamma=1.25, noise=0.02, frame=1.0, marker=0.0),
}
_OPACITIES, _NODULES = 3, 5
_CHUNK = 64  # images rendered at once, to bound memory at large sizes


def make_phantoms(n_per_class=50, image_size=64, seed=0):
    """Draw a synthetic Collection.

    Inputs:
    - n_per_class: int >= 1, images per (dataset, label); there are four such classes.
    - image_size: int S >= 8.
    - seed: int, seeds the numpy Generator that every random choice comes from.

    Returns:
    - Collection with N = 4 * n_per_class rows, ``synthetic=True``, ``data_dir=""``; paths like
      ``synthetic/pneumonia/normal/00003.png`` (no file exists), sorted by dataset then path.
    """
    if n_per_class < 1 or image_size < 8:
        raise ValueError(f"need n_per_class >= 1 and image_size >= 8; got {n_per_class}, {image_size}")
    rng = np.random.default_rng(seed)
    dataset, labels, patient_idx, patient_names, first_image = [], [], [], [], []
    for name, label in _BLOCKS:
        n_patients = n_per_class - n_per_class // 4
        extra = rng.integers(0, n_patients, size=n_per_class - n_patients)
        offset = len(patient_names)
        for j in np.concatenate([np.arange(n_patients), extra]):
            patient_idx.append(offset + j)
        first_image.extend(len(labels) + np.arange(n_patients))
        patient_names.extend(f"{PHANTOM_SITES[name]}:{_LABEL_NAMES[name][label]}-{j:04d}" for j in range(n_patients))
        dataset += [name] * n_per_class
        labels += [label] * n_per_class
    dataset, labels = np.array(dataset), np.array(labels, dtype=np.int64)
    patient_idx = np.array(patient_idx)

    params = _draw_params(rng, dataset, labels, patient_idx, len(patient_names))
    images = _render(params, image_size, rng)
    _copy_some_duplicates(rng, images, dataset, patient_idx, np.array(first_image))

    is_test_patient = rng.random(len(patient_names)) < 0.2
    official = np.where(is_test_patient[patient_idx], "test", "train")
    official = np.where(dataset == "pneumonia", official, "")
    paths = [f"synthetic/{d}/{_LABEL_NAMES[d][y]}/{i:05d}.png" for i, (d, y) in enumerate(zip(dataset, labels))]
    return Collection(
        images=images,
        labels=labels,
        dataset=dataset,
        site=np.array([PHANTOM_SITES[d] for d in dataset]),
        patient=np.array(patient_names)[patient_idx],
        official_split=official,
        paths=np.array(paths),
        pixel_hash=np.array([hashlib.sha256(image).hexdigest() for image in images]),
        synthetic=True,
        image_size=image_size,
        data_dir="",
        label_names=dict(_LABEL_NAMES),
    )


def _draw_params(rng, dataset, labels, patient_idx, n_patients):
    """Every random number of the drawing, per image, as arrays of shape (N,) or (N, K)."""
    n = len(labels)

    def per_patient(low, high, jitter):
        base = rng.uniform(low, high, size=n_patients)[patient_idx]
        return base + rng.normal(0.0, jitter, size=n)

    p = {
        "cx": per_patient(-0.04, 0.04, 0.01),
        "cy": per_patient(-0.03, 0.06, 0.01),
        "lung_ry": per_patient(0.52, 0.62, 0.01),
        "heart": per_patient(0.12, 0.25, 0.01),
        "rib_phase": per_patient(0.0, 2 * np.pi, 0.2),
        "rib_freq": per_patient(4.0, 5.0, 0.05),
        "exposure": per_patient(0.9, 1.1, 0.03),
    }
    for key in ("width", "gamma", "noise", "frame", "marker"):
        p[key] = np.array([_SITE_STYLE[d][key] for d in dataset])

    # Soft opacities: diffuse lower-zone consolidation for pneumonia, a fainter, smaller upper-zone
    # infiltrate under the TB nodules or cavity.
    pneumonia = (dataset == "pneumonia") & (labels == 1)
    tb = (dataset == "tb") & (labels == 1)
    count = rng.integers(1, _OPACITIES + 1, size=n)
    slot = np.arange(_OPACITIES)[None, :]
    shape = (n, _OPACITIES)
    upper = tb[:, None]
    p["op_amp"] = np.where(upper, rng.uniform(0.1, 0.2, size=shape), rng.uniform(0.18, 0.3, size=shape))
    p["op_amp"] *= (pneumonia | tb)[:, None] & (slot < count[:, None])
    p["op_x"] = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.25, 0.45, size=shape)
    p["op_y"] = np.where(upper, rng.uniform(-0.5, -0.2, size=shape), rng.uniform(0.05, 0.4, size=shape))
    p["op_sigma"] = np.where(upper, rng.uniform(0.07, 0.12, size=shape), rng.uniform(0.12, 0.2, size=shape))

    cavity = rng.random(n) < 0.5
    count = rng.integers(3, _NODULES + 1, size=n)
    slot = np.arange(_NODULES)[None, :]
    nodules = (tb & ~cavity)[:, None] & (slot < count[:, None])
    p["nod_amp"] = rng.uniform(0.3, 0.45, size=(n, _NODULES)) * nodules
    p["nod_x"] = rng.choice([-1.0, 1.0], size=(n, _NODULES)) * rng.uniform(0.2, 0.5, size=(n, _NODULES))
    p["nod_y"] = rng.uniform(-0.55, -0.2, size=(n, _NODULES))
    p["nod_sigma"] = rng.uniform(0.04, 0.06, size=(n, _NODULES))
    p["cav_amp"] = rng.uniform(0.35, 0.5, size=n) * (tb & cavity)
    p["cav_x"] = rng.choice([-1.0, 1.0], size=n) * rng.uniform(0.25, 0.45, size=n)
    p["cav_y"] = rng.uniform(-0.5, -0.25, size=n)
    p["cav_r"] = rng.uniform(0.09, 0.13, size=n)
    return {key: value.astype(np.float32) for key, value in p.items()}


def _ellipse(x, y, cx, cy, rx, ry, edge=0.08):
    """Soft ellipse mask: 1 inside, 0 outside, a linear ramp across the rim.

    The ramp is on the squared radius (no square root): it runs from r^2 = 1 - edge to 1 + edge.
    """
    r2 = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
    return np.clip((1.0 + edge - r2) / (2 * edge), 0.0, 1.0)


def _blob(x, y, amp, cx, cy, sigma):
    """Gaussian bump, built as an outer product of two 1-D Gaussians (cheaper than a 2-D exp)."""
    return (amp * np.exp(-((y - cy) ** 2) / (2 * sigma**2))) * np.exp(-((x - cx) ** 2) / (2 * sigma**2))


def _render(p, size, rng):
    """Paint the images in chunks; returns uint8 (N, S, S)."""
    n = len(p["cx"])
    coords = ((np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1).astype(np.float32)
    y, x = coords[None, :, None], coords[None, None, :]
    frame = (np.abs(x) > 0.92) | (np.abs(y) > 0.92)
    marker = (x < -0.75) & (x > -0.88) & (y < -0.75) & (y > -0.88)
    levels = np.linspace(0.0, 1.0, 4096, dtype=np.float32)
    out = np.empty((n, size, size), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        rows = np.arange(start, min(n, start + _CHUNK))

        def q(key, k=None, subset=rows):
            value = p[key][subset] if k is None else p[key][subset, k]
            return value[:, None, None]

        w = q("width")
        body = _ellipse(x, y, q("cx"), q("cy") + 0.05, 0.9 * w, 1.0)
        left = _ellipse(x, y, q("cx") - 0.38 * w, q("cy") - 0.05, 0.27 * w, q("lung_ry"))
        right = _ellipse(x, y, q("cx") + 0.38 * w, q("cy") - 0.05, 0.27 * w, q("lung_ry"))
        lungs = left + right
        img = 0.05 + 0.45 * body - 0.3 * lungs
        img += 0.15 * body * np.exp(-(((x - q("cx")) / 0.12) ** 2))  # spine and mediastinum
        img += 0.6 * q("heart") * _ellipse(x, y, q("cx") + 0.12 * w, q("cy") + 0.3, 0.25 * w, 0.22)
        # Rib stripes cos(a(y) + b(x)), expanded as cos a cos b - sin a sin b: two outer products.
        a = 2 * np.pi * q("rib_freq") * y + q("rib_phase")
        b = 2 * np.pi * q("rib_freq") * 0.25 * x**2
        img += 0.06 * (0.5 + 0.5 * (np.cos(a) * np.cos(b) - np.sin(a) * np.sin(b))) * lungs
        lesions = np.zeros_like(img)
        for k in range(_OPACITIES):
            lesions += _blob(x, y, q("op_amp", k), q("cx") + q("op_x", k) * w, q("op_y", k), q("op_sigma", k))
        for k in range(_NODULES):
            lesions += _blob(x, y, q("nod_amp", k), q("cx") + q("nod_x", k) * w, q("nod_y", k), q("nod_sigma", k))
        cav = np.flatnonzero(p["cav_amp"][rows] > 0)  # only a few images have a cavity
        if cav.size:
            c = rows[cav]
            centre_x = q("cx", subset=c) + q("cav_x", subset=c) * q("width", subset=c)
            r = np.sqrt((x - centre_x) ** 2 + (y - q("cav_y", subset=c)) ** 2)
            radius = q("cav_r", subset=c)
            ring = np.exp(-(((r - radius) / 0.025) ** 2)) - 0.6 * np.exp(-((r / radius) ** 2))
            lesions[cav] += q("cav_amp", subset=c) * ring
        img += lesions * np.clip(lungs, 0, 1)
        img = np.where(frame & (q("frame") > 0), 0.02, img)
        img = np.where(marker & (q("marker") > 0), 0.95, img)
        img = img * q("exposure") + rng.standard_normal(size=img.shape, dtype=np.float32) * q("noise")
        # Gamma through a 4096-level lookup table: a power per pixel costs more than the rest.
        level = (np.clip(img, 0.0, 1.0) * 4095 + 0.5).astype(np.int16)
        for gamma in np.unique(p["gamma"][rows]):
            table = np.clip(levels**gamma * 255.0 + 0.5, 0, 255).astype(np.uint8)
            same = np.flatnonzero(p["gamma"][rows] == gamma)
            out[rows[same]] = table[level[same]]
    return out


def _copy_some_duplicates(rng, images, dataset, patient_idx, first_image):
    """Make about 1 in 20 repeat images of "pneumonia" patients a pixel copy of the first image."""
    first_of_patient = {int(patient_idx[i]): int(i) for i in first_image}
    repeats = [
        i for i in range(len(images)) if dataset[i] == "pneumonia" and first_of_patient[int(patient_idx[i])] != i
    ]
    if not repeats:
        return
    chosen = rng.choice(repeats, size=max(1, len(repeats) // 20), replace=False)
    for i in np.sort(chosen):
        images[i] = images[first_of_patient[int(patient_idx[i])]]
