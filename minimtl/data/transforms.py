"""Image shifts that have nothing to do with the disease: what another hospital's images look like.

A detector that reads the lungs should shrug these off; one that learned the hospital may not.
Each function takes uint8 images (n, S, S), never modifies them, and returns a new uint8 array of
the same shape. All are deterministic; every parameter is explicit (:mod:`minimtl.data.augment`
draws them at random, from one seeded Generator, to augment training batches).

- :func:`black_border`: black bands along the edges, as a detector smaller than the film leaves them
- :func:`burn_in_text`: block letters burned into a corner ("PA ERECT", a side marker), from the
  3x5 bitmap font :data:`GLYPHS`
- :func:`change_gamma`: out = 255 (x / 255) ** gamma, another detector's response curve
- :func:`change_contrast`: out = centre + factor (x - centre), another window setting
- :func:`zoom`: magnify about the centre (factor > 1) or shrink into a black frame (factor < 1),
  another source-to-detector distance or patient size
"""

import numpy as np

__all__ = [
    "GLYPHS",
    "CORNERS",
    "BORDER_SIDES",
    "black_border",
    "text_bitmap",
    "burn_in_text",
    "change_gamma",
    "change_contrast",
    "zoom",
    "zoom_positions",
    "resample_bilinear",
]

# A 3-wide, 5-high block font: five rows of three pixels per character, 1 = lit.
GLYPHS = {
    "A": "010 101 111 101 101", "B": "110 101 110 101 110", "C": "011 100 100 100 011",
    "D": "110 101 101 101 110", "E": "111 100 110 100 111", "F": "111 100 110 100 100",
    "G": "011 100 101 101 011", "H": "101 101 111 101 101", "I": "111 010 010 010 111",
    "J": "001 001 001 101 010", "K": "101 101 110 101 101", "L": "100 100 100 100 111",
    "M": "101 111 111 101 101", "N": "110 101 101 101 101", "O": "010 101 101 101 010",
    "P": "110 101 110 100 100", "Q": "010 101 101 110 011", "R": "110 101 110 101 101",
    "S": "011 100 010 001 110", "T": "111 010 010 010 010", "U": "101 101 101 101 111",
    "V": "101 101 101 101 010", "W": "101 101 111 111 101", "X": "101 101 010 101 101",
    "Y": "101 101 010 010 010", "Z": "111 001 010 100 111", "0": "111 101 101 101 111",
    "1": "010 110 010 010 111", "2": "110 001 010 100 111", "3": "110 001 010 001 110",
    "4": "101 101 111 001 001", "5": "111 100 110 001 110", "6": "011 100 111 101 111",
    "7": "111 001 010 010 010", "8": "111 101 111 101 111", "9": "111 101 111 001 110",
    " ": "000 000 000 000 000", "-": "000 000 111 000 000", ".": "000 000 000 000 010",
}  # fmt: skip
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
BORDER_SIDES = ("all", "left-right", "top-bottom")


def _checked(images):
    """The images as an array, or ValueError unless they are uint8 (n, S, S)."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"transforms take uint8 images (n, S, S); got {images.dtype} {images.shape}")
    return images


def black_border(images, fraction=0.08, sides="all"):
    """Black bands of ``round(fraction * S)`` pixels along the edges.

    Inputs: images uint8 (n, S, S); fraction in [0, 0.5), the band's width as a share of S;
    sides: "all" (a frame), "left-right" (pillar bands) or "top-bottom".
    Returns uint8 (n, S, S): the bands 0, every other pixel as it was.
    """
    images = _checked(images)
    if not 0 <= fraction < 0.5 or sides not in BORDER_SIDES:
        raise ValueError(f"black_border needs 0 <= fraction < 0.5 and sides in {BORDER_SIDES}; got {fraction}, {sides}")
    out = images.copy()
    width = int(round(fraction * images.shape[1]))
    if width:
        if sides in ("all", "top-bottom"):
            out[:, :width, :] = 0
            out[:, -width:, :] = 0
        if sides in ("all", "left-right"):
            out[:, :, :width] = 0
            out[:, :, -width:] = 0
    return out


def text_bitmap(text, scale=1):
    """The lit pixels of ``text`` in :data:`GLYPHS`: bool (5 scale, (4 len - 1) scale), one blank
    column between letters. ValueError naming any character the font lacks."""
    missing = sorted(set(text.upper()) - set(GLYPHS))
    if missing or not text or scale < 1:
        raise ValueError(f"text needs at least one character of {''.join(GLYPHS)!r} and scale >= 1; got {text!r}")
    columns = []
    for k, char in enumerate(text.upper()):
        glyph = np.array([[bit == "1" for bit in row] for row in GLYPHS[char].split()])
        columns += [glyph] if k == 0 else [np.zeros((5, 1), bool), glyph]
    return np.kron(np.hstack(columns), np.ones((scale, scale), bool)).astype(bool)


def burn_in_text(images, text="PA ERECT", corner="top-right", height=0.06, margin=0.04, value=255):
    """Burn block letters into one corner of every image, as an X-ray unit prints its markers.

    Inputs: images uint8 (n, S, S); text (letters, digits, space, '-' and '.'); corner, one of
    :data:`CORNERS`; height: letter height as a share of S (each font pixel becomes a square of
    ``max(1, round(height S / 5))`` pixels); margin: distance from the edges as a share of S;
    value: the letters' gray level (255: burned-in white).
    Returns uint8 (n, S, S). ValueError when the text does not fit in the image.
    """
    images = _checked(images)
    if corner not in CORNERS or not 0 <= value <= 255:
        raise ValueError(f"burn_in_text needs corner in {CORNERS} and 0 <= value <= 255; got {corner}, {value}")
    side = images.shape[1]
    bitmap = text_bitmap(text, max(1, int(round(height * side / 5))))
    gap = int(round(margin * side))
    rows, cols = bitmap.shape
    if rows + gap > side or cols + gap > side:
        raise ValueError(f"the text {text!r} ({cols} x {rows} px) does not fit in a {side} px image; shorten it")
    top = gap if corner.startswith("top") else side - gap - rows
    left = gap if corner.endswith("left") else side - gap - cols
    out = images.copy()
    out[:, top : top + rows, left : left + cols][:, bitmap] = value
    return out


def change_gamma(images, gamma):
    """out = round(255 (x / 255) ** gamma): gamma < 1 brightens the mid-grays, > 1 darkens them;
    0 and 255 stay. Inputs: images uint8 (n, S, S), gamma > 0. Returns uint8 (n, S, S)."""
    images = _checked(images)
    if not gamma > 0:
        raise ValueError(f"change_gamma needs gamma > 0, got {gamma}")
    table = np.rint(255.0 * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)  # one lookup per gray level
    return table[images]


def change_contrast(images, factor, centre=None):
    """out = clip(round(centre + factor (x - centre)), 0, 255).

    Inputs: images uint8 (n, S, S); factor >= 0 (< 1 flattens, > 1 stretches); centre: the gray
    level that stays put, or None for each image's own mean (so the mean brightness is kept).
    Returns uint8 (n, S, S).
    """
    images = _checked(images)
    if not factor >= 0:
        raise ValueError(f"change_contrast needs factor >= 0, got {factor}")
    x = images.astype(np.float64)
    mid = x.mean(axis=(1, 2), keepdims=True) if centre is None else float(centre)
    return np.clip(np.rint(mid + factor * (x - mid)), 0, 255).astype(np.uint8)


def zoom_positions(side, factor, shift=0.0):
    """The input position each output pixel p samples: c + (p - c) / factor - shift, c = (side - 1) / 2
    (float64 (side,)): magnified about the centre, then moved by ``shift`` pixels."""
    return (side - 1) / 2 + (np.arange(side) - (side - 1) / 2) / factor - shift


def resample_bilinear(images, row_positions, column_positions):
    """Bilinear resampling of float images (n, S, S) at per-image positions (n, S) along the rows and
    along the columns; a position off the image counts as 0 (black). Separable: one linear
    interpolation between two neighbours along each axis, so exact on linear ramps."""
    out = _resample_rows(images, row_positions)
    return _resample_rows(out.transpose(0, 2, 1), column_positions).transpose(0, 2, 1)


def _resample_rows(images, positions):
    """Row p of image k: the linear interpolation of its rows at ``positions[k, p]`` (0 off the image)."""
    n, side = images.shape[0], images.shape[1]
    below = np.floor(positions).astype(np.int64)
    above_weight = positions - below
    which = np.arange(n)[:, None]
    result = np.zeros(images.shape)
    for neighbour, weight in ((below, 1 - above_weight), (below + 1, above_weight)):
        weight = weight * ((neighbour >= 0) & (neighbour < side))  # off the image: no contribution
        result += images[which, np.clip(neighbour, 0, side - 1)] * weight[:, :, None]  # whole rows gathered
    return result


def zoom(images, factor, shift=(0.0, 0.0)):
    """Magnify about the image centre by ``factor`` (1.05: 5% closer), then move the picture by
    ``shift`` = (down, right) pixels (fractions allowed), bilinear (:func:`resample_bilinear`).

    factor < 1 shrinks the image and leaves a black frame; what a shift uncovers is black too.
    Inputs: images uint8 (n, S, S), factor > 0, shift (float, float). Returns uint8 (n, S, S).
    """
    images = _checked(images)
    if not factor > 0:
        raise ValueError(f"zoom needs factor > 0, got {factor}")
    n, side = images.shape[0], images.shape[1]
    rows = np.broadcast_to(zoom_positions(side, factor, shift[0]), (n, side))
    columns = np.broadcast_to(zoom_positions(side, factor, shift[1]), (n, side))
    out = resample_bilinear(images.astype(np.float64), rows, columns)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
