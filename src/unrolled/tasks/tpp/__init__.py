"""Neural temporal point processes (seed 004 section 10): events in continuous time."""
