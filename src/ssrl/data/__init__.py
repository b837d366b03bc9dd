"""Data sources, D_s and D_t: image folders, IDX files, NumPy arrays and named data sets.

Every source loads as a `Source` (uint8 images, optional int64 labels), in memory or, for image
folders and LitData shards (`ssrl.data.shards`), still encoded and decoded when read.
`load_source` gives one split, `load_labeled` a (train, test, note) triple that says
where the test split came from.
"""

from ssrl.data.source import Source, to_unit
from ssrl.data.sources import held_or_streamed, load_labeled, load_source
from ssrl.data.split import stratified_split

__all__ = ["Source", "held_or_streamed", "load_labeled", "load_source", "stratified_split", "to_unit"]
