"""Faces: locate, landmark (dlib + AAM) and crop each apex frame.

locator (detection, landmarks, quality), crop (the crop geometry), frames (the
index rows and the work on one clip), records (a sample's stored files), aam
and aam_training (the AAM, its fit and the default model), aus (AU landmark
regions), evaluate (`faces evaluate`), summary (faces.csv, summary.*), command
(the `faces` command)."""
