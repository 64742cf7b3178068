"""The fixed-length representation of one finger's minutiae: a soft histogram of minutia-pair geometry.

For every ordered pair of minutiae ``(i, j)`` whose distance ``d`` lies in ``[D_MIN, D_MAX)`` pixels, three numbers
describe the pair independently of where the finger lies on the sensor and how it is turned: ``d`` itself and the
directions of ``i`` and of ``j`` measured from the line ``i -> j``. Each pair votes into a ``D_BINS x A_BINS x
A_BINS`` grid with linear (soft) weights between neighbouring bins, so that elastic distortion and extraction jitter
move weight between bins instead of flipping it. The histogram is square-rooted (the Hellinger map, which tames the
many pairs every finger shares) and scaled to unit length.

Minutia types are left out on purpose: extractors mistake them often enough that they would add noise, not
information, at this coarse level. Bozorth3 looks at the details afterwards.
"""

from __future__ import annotations

import numpy as np
from ektp_plugins.scanners import nbis
from numpy.typing import NDArray

D_MIN, D_MAX = 12.0, 156.0
D_BINS = 8
A_BINS = 8
#: Length of a feature vector.
DIMENSIONS = D_BINS * A_BINS * A_BINS

FloatVector = NDArray[np.float32]


def minutiae_arrays(template: nbis.Template) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """x, y (pixels) and angle (degrees counter-clockwise) of a template's minutiae."""
    if not template.minutiae:
        empty = np.zeros(0)
        return empty, empty, empty
    data = np.array([(m.x, m.y, m.angle) for m in template.minutiae], dtype=np.float64)
    return data[:, 0], data[:, 1], data[:, 2]


def pair_histogram(xs: NDArray[np.float64], ys: NDArray[np.float64], angles: NDArray[np.float64]) -> FloatVector:
    """The unit-length feature vector of minutiae at ``xs, ys`` (image pixels) pointing at ``angles`` (degrees).

    A template with fewer than two minutiae gets the zero vector (it matches nothing).
    """
    out = np.zeros(DIMENSIONS, dtype=np.float64)
    if len(xs) < 2:
        return out.astype(np.float32)
    # Only pairs i < j are binned: the reversed pair (j, i) sees the line turned by 180 degrees, so it votes at
    # (d, a_j + 180, a_i + 180), which is the same histogram with its angle axes swapped and shifted by half a turn.
    first, second = np.triu_indices(len(xs), 1)
    dx = xs[second] - xs[first]
    dy = ys[first] - ys[second]  # y up, the sense ISO angles are counted in
    dist = np.hypot(dx, dy)
    mask = (dist >= D_MIN) & (dist < D_MAX)
    if not mask.any():
        return out.astype(np.float32)
    first, second, dist = first[mask], second[mask], dist[mask]
    line = np.degrees(np.arctan2(dy[mask], dx[mask]))
    # Bin coordinates with bin centres at integers; linear weights to the two nearest bins per axis.
    fd = np.clip((dist - D_MIN) / ((D_MAX - D_MIN) / D_BINS) - 0.5, 0.0, D_BINS - 1.0)
    fi = np.mod(angles[first] - line, 360.0) / (360.0 / A_BINS) - 0.5
    fj = np.mod(angles[second] - line, 360.0) / (360.0 / A_BINS) - 0.5
    d0 = np.floor(fd).astype(np.intp)
    wd1 = fd - d0
    d1 = np.minimum(d0 + 1, D_BINS - 1)
    i0 = np.floor(fi).astype(np.intp)
    wi1 = fi - i0
    j0 = np.floor(fj).astype(np.intp)
    wj1 = fj - j0
    bins = []
    weights = []
    for db, wd in ((d0, 1 - wd1), (d1, wd1)):
        for ib, wi in ((i0 % A_BINS, 1 - wi1), ((i0 + 1) % A_BINS, wi1)):
            for jb, wj in ((j0 % A_BINS, 1 - wj1), ((j0 + 1) % A_BINS, wj1)):
                bins.append((db * A_BINS + ib) * A_BINS + jb)
                weights.append(wd * wi * wj)
    half = np.bincount(np.concatenate(bins), weights=np.concatenate(weights), minlength=DIMENSIONS)
    cube = half.reshape(D_BINS, A_BINS, A_BINS)
    symmetric = (cube + np.roll(cube.transpose(0, 2, 1), (A_BINS // 2, A_BINS // 2), axis=(1, 2))).reshape(-1)
    rooted = np.sqrt(symmetric)
    norm = float(np.linalg.norm(rooted))
    vector: NDArray[np.float32] = (rooted / norm if norm else rooted).astype(np.float32)
    return vector


def features(template: nbis.Template) -> FloatVector:
    """The feature vector of a template."""
    return pair_histogram(*minutiae_arrays(template))
