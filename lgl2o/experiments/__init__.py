"""What the figures compare: the comparison of every optimizer (stages 03-06), the baselines' tuning
(01), the guard ablation (09), the convex guarantee (07), the cost per step (08), their summaries and
the artifacts they write and read."""
