"""Readers of the seven databases the paper uses: three micro-expression sets
(CASME II, SAMM, SMIC) and four macro-expression sets for pre-training (CK+,
Oulu-CASIA, JAFFE, MUG). Each module provides NAME, DISPLAY, CLASSES and
index(root, opts, collector)."""
from microattention.datasets import casme2, ckplus, jaffe, mug, oulu, samm, smic

READERS = {module.NAME: module for module in (casme2, samm, smic, ckplus, oulu, jaffe, mug)}
