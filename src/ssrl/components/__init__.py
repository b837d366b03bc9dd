"""Stateful parts that methods hold: k-means pseudolabels (more to move here: EMA targets, queues)."""
