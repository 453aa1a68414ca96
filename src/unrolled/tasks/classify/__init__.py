"""Sequence classification (seed 001's sentiment analysis): the bundled labelled corpora so far
(``corpora``); the estimator comes next on the task base."""
