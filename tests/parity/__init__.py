"""Lightning vs Keras on the same weights."""
