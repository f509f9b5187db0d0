"""The demo: the whole pipeline on generated faces."""
