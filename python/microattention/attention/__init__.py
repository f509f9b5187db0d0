"""Attention maps: scores, overlays and Figure 4."""
