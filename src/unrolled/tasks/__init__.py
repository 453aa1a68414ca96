"""Applications, one folder each, on one estimator base (``base``) and one registry (``registry``)."""
