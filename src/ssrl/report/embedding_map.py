"""A 2-D map of the backbone's features, coloured by label: do the classes separate without
ever having been shown to h_θ?

The points are a fixed random subset (seed 0) of at most ``MAP_POINTS`` labeled images: the
run's own data when it has labels, else its ``--monitor`` data. The projection is UMAP (McInnes
et al., 2018, arXiv:1802.03426) where the ``umap-learn`` package is installed, else t-SNE (van
der Maaten & Hinton, 2008) from scikit-learn, else PCA for sets too small for t-SNE. t-SNE
costs seconds per thousand points on a CPU, so the map is computed once per backbone and kept
in ``RUN/embedding_map.npz``; rebuilding the report reuses it until the backbone changes.
"""

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from ssrl.data import Source, load_source
from ssrl.errors import SsrlError
from ssrl.files import save_atomic
from ssrl.evaluation import extract_features
from ssrl.report.page import Missing
from ssrl.runs import load_backbone, run_config

MAP_POINTS = 1000
CACHE = "embedding_map.npz"
TSNE_MIN_POINTS = 10  # t-SNE's perplexity must stay below the number of points


@dataclass
class EmbeddingMap:
    coords: np.ndarray    # (N, 2)
    labels: np.ndarray    # (N,) int
    classes: list[str]    # class name by label
    technique: str        # "UMAP", "t-SNE" or "PCA"
    data: str             # where the points came from
    total: int            # images in that data (the map shows a subset)


def embedding_map(run_dir: Path) -> EmbeddingMap:
    """The run's map, from the cache if it is newer than the backbone, else computed and cached."""
    cache, weights = run_dir / CACHE, run_dir / "backbone.safetensors"
    if not weights.is_file():
        raise Missing("No embedding map: the run has no backbone.safetensors yet (it has not finished).")
    if cache.is_file() and cache.stat().st_mtime >= weights.stat().st_mtime:
        try:
            with np.load(cache) as f:
                return EmbeddingMap(f["coords"], f["labels"], list(f["classes"]), str(f["technique"]),
                                    str(f["data"]), int(f["total"]))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # truncated or corrupt: computed again
            pass
    labeled = _labeled_data(run_dir)
    pick = torch.randperm(len(labeled), generator=torch.Generator().manual_seed(0))[:MAP_POINTS].sort().values
    try:
        images = labeled.images[pick]  # decoded here when the data stays encoded
    except SsrlError as e:
        raise Missing(f"No embedding map: the run's data could not be read to embed it ({e}).") from e
    features = extract_features(load_backbone(run_dir), images).numpy()
    coords, technique = project(features)
    labels = labeled.labels[pick].numpy()
    classes = labeled.classes or [str(i) for i in range(int(labeled.labels.max()) + 1)]
    result = EmbeddingMap(coords, labels, classes, technique, labeled.name, len(labeled))
    save_atomic(cache, lambda f: np.savez(f, coords=coords, labels=labels, classes=np.array(classes),
                                          technique=technique, data=labeled.name, total=len(labeled)))
    return result


def _labeled_data(run_dir: Path) -> Source:
    """D_s as the run used it (resized, limited) if it has labels, else the --monitor data; image
    folders and shards stay encoded (only the mapped images are decoded)."""
    cfg = run_config(run_dir)
    if cfg.modality != "image":
        raise Missing(f"No embedding map: it is drawn for image runs only, and this is a {cfg.modality} run.")
    try:
        source = load_source(cfg.data, image_size=cfg.image_size, skip_bad=cfg.skip_bad, encoded=True)
        if cfg.limit:
            source = source.subset(slice(0, cfg.limit))
        if source.labels is None and cfg.monitor:
            source = load_source(cfg.monitor, image_size=cfg.image_size, encoded=True)
    except SsrlError as e:
        raise Missing(f"No embedding map: the run's data could not be loaded to embed it ({e}).") from e
    if source.labels is None:
        raise Missing(f"No embedding map: the run's data ({cfg.data}) has no labels and the run had no --monitor "
                      "labeled data, so there is nothing to colour the points by.")
    if len(source) < 2:
        raise Missing(f"No embedding map: {source.name} has {len(source)} image(s), too few to map.")
    return source


def project(features: np.ndarray) -> tuple[np.ndarray, str]:
    """(N, dim) features to (N, 2) coordinates, and the name of the technique used."""
    try:
        import umap
    except ImportError:
        umap = None
    if umap is not None and len(features) > TSNE_MIN_POINTS:
        return umap.UMAP(n_components=2, random_state=0).fit_transform(features), "UMAP"
    if len(features) > TSNE_MIN_POINTS:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(features) - 1) / 3)
        tsne = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=0)
        # One OpenMP thread: on a busy machine two threads spin against each other and take many
        # times longer (BENCHMARKS.md, "Run report and export").
        with threadpool_limits(1):
            return tsne.fit_transform(features), "t-SNE"
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=0).fit_transform(features), "PCA"
