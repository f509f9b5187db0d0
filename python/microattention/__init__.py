"""Reproduction of "Micro-Attention for Micro-Expression Recognition"
(Wang, Peng, Bi, Chen, Neurocomputing 410, 2020) in Caffe.

One module per pipeline stage; `python3 -m microattention --help` lists the
commands.
"""

__version__ = "0.1.0"
