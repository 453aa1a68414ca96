"""unrolled: recurrent networks (RNN, LSTM, GRU) written from their equations in NumPy.

Notation, used in every docstring and shape comment:

====  ===============================================
B     batch size
T     time steps (sequence length)
D     input size (features per step)
H     hidden size
V     vocabulary size
G     gates: 4 for the LSTM (i, f, g, o), 3 for the GRU (r, z, n), 1 for the RNN
====  ===============================================

Layouts and parameter names follow ``torch.nn`` (time-major ``(T, B, D)`` unless
``batch_first=True``; ``weight_ih_l0``, ``bias_hh_l1_reverse``, ...), so a state dict moves
between unrolled and PyTorch without reshuffling. Every part is a forward / backward pair:
``forward`` caches what ``backward`` needs, ``backward`` returns the input gradient and adds
parameter gradients into ``module.grads``.
"""

from unrolled.nn.activations import dsigmoid, dtanh, log_softmax, relu, sigmoid, softmax, tanh
from unrolled.nn.layers import Dropout, Embedding, Linear, Sequential
from unrolled.nn.losses import CrossEntropyLoss, MSELoss
from unrolled.nn.module import Module
from unrolled.nn.recurrent import GRU, LSTM, RNN, Recurrent
from unrolled.nn.stream import GRUCell, LSTMCell, RNNCell, Stepper
from unrolled.train.gradcheck import gradcheck
from unrolled.fast.threads import set_threads as set_num_threads

__version__ = "0.1.0"


def __getattr__(name):
    """The task estimators (``unrolled.Forecaster``, ``unrolled.LanguageModel``, ...) and
    ``unrolled.load``, imported on first use: they bring pandas and the tasks' data code, which
    the math above does not need."""
    from unrolled.tasks import registry

    if name == "load":
        return registry.load
    estimator = registry.estimator_named(name)
    if estimator is None:
        raise AttributeError(f"module 'unrolled' has no attribute {name!r}")
    return estimator
