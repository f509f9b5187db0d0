"""Deployment: export a trained fold, predict on a user's video."""
