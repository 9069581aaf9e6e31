"""Reading plaintext data on the data owner's machine: IDX/MNIST (``idx``, ``mnist``) and
.npy/.npz/.csv/IDX with checks (``readers``)."""
