"""Folds: split an index into the folds of HDE, CDE or LOSO."""
