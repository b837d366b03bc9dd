"""Stateful parts that methods hold: EMA target networks (``momentum``), embedding queues
(``queue``), k-means pseudolabels (``kmeans``), and grids of patches (``patches``)."""
