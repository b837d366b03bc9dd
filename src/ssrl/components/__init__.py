"""Stateful parts that methods hold: EMA target networks (``momentum``), embedding queues
(``queue``), k-means pseudolabels (``kmeans``), grids of patches (``patches``), and batch-norm
statistics recomputed on whole images after patch pretraining (``batch_norm``)."""
