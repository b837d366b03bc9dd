"""Does D_s look like its own mirror image? The data's say on left-right flips.

A flip is a harmless view where a mirrored image is still an image of the data (photos, clothes,
animals) and a harmful one where orientation is content (digits, letters, icons, scanned forms):
there, invariance to it teaches h_θ to confuse shapes that differ only by handedness.

``mirror_ratio`` measures it without labels. Q query images and a bank of B other images are
drawn from D_s (a fixed draw: the same data gives the same answer in every run), area-resized
to at most ``SIDE`` px and compared in pixel space (Euclidean distance). For each query the
distance from the query to its k-th nearest bank image is set against the same distance from
the query's mirror image; the ratio of the two medians is returned. Near 1: mirrored images sit
among the data as closely as the images do. Well above 1: a mirrored image looks like nothing
in the data. The k-th (not the first) neighbour keeps a query's near-duplicates in the bank
(video frames, bursts, overlapping crops), which its mirror image never has, from inflating
the ratio of data that is symmetric.
"""

import torch
import torch.nn.functional as F

SIDE = 32                 # images are compared at this side at most
QUERIES, BANK = 500, 1500  # the draw
K = 5                     # the neighbour compared
MIN_ROWS = 200            # below this the data is too small to tell: None
FLIPS_OFF_ABOVE = 1.3     # the ratio above which flips are off by default


def mirror_ratio(images, seed: int = 0) -> float | None:
    """The mirror ratio of uint8 images (N, C, H, W) (a tensor, or ``EncodedImages``, whose
    drawn rows alone are decoded); None for fewer than ``MIN_ROWS`` images."""
    n = len(images)
    if n < MIN_ROWS:
        return None
    queries = min(QUERIES, n // 4)
    drawn = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: min(n, queries + BANK)]
    x = images[drawn].float() / 255
    if x.shape[-1] > SIDE or x.shape[-2] > SIDE:
        x = F.interpolate(x, size=(min(SIDE, x.shape[-2]), min(SIDE, x.shape[-1])), mode="area")
    query, bank = x[:queries], x[queries:].flatten(1)

    def kth_distance(q: torch.Tensor) -> torch.Tensor:
        return torch.cdist(q.flatten(1), bank).topk(K, largest=False).values[:, -1].median()

    return float(kth_distance(query.flip(-1)) / kth_distance(query).clamp_min(1e-12))
