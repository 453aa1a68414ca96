"""Training: the engine shared by every task (``trainer``), optimizers and clipping (``optim``)
and the finite-difference gradient check (``gradcheck``)."""
