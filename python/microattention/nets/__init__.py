"""Nets: prototxt, solvers, caffemodel I/O, weight surgery and transfer."""
