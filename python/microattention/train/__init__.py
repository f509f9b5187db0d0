"""Training: one fold or a whole protocol through Caffe."""
