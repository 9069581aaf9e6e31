"""Reading plaintext data on the data owner's machine (IDX/MNIST; more formats in readers)."""
