"""Nets: the three networks' prototxt (prototxt), their solvers (schedule,
solver, committed_solvers), caffemodel I/O (caffemodel), weight surgery and
transfer (surgery, shapes, fetch, sidecar; the `weights` command in weights)
and Table 3 (caffetime, measure, summary_tables; the `summary` command in
summary)."""
