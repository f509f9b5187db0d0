"""Faces: locate, landmark (dlib + AAM) and crop each apex frame."""
