"""ONNX in and out: ``export`` writes an unrolled network as ONNX ``RNN`` / ``LSTM`` / ``GRU``
operators with their glue; ``load`` reads such a graph (written here, by ``torch.onnx.export`` or
by hand) back into unrolled layers.

    unrolled.onnx.export(model, "model.onnx")      # a layer, a task's network, a fitted estimator
    graph = unrolled.onnx.load("model.onnx")       # an OnnxGraph module
    y, h_n = graph.forward(x)                      # the graph's outputs, in its order

The ``onnx`` package (``pip install "unrolled[onnx]"``) is imported on the first call, never by
``import unrolled``. ``gates`` converts the weights between PyTorch's layout and gate order and
ONNX's; ``graph`` / ``to_onnx`` write graphs; ``ops`` / ``nodes`` / ``from_onnx`` read them.
"""

from __future__ import annotations

DEFAULT_OPSET = 17
MIN_OPSET = 14  # GRU / LSTM / RNN took their last change (the layout attribute) in opset 14


def require_onnx() -> None:
    """ImportError naming the install command when the onnx package is missing."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError("unrolled.onnx needs the onnx package; install it with: "
                          "pip install 'unrolled[onnx]'") from None


def export(model, path, *, opset=DEFAULT_OPSET, lengths=False, state=False):
    """Write ``model`` (a recurrent layer, a task's network or a fitted estimator) to the ONNX file
    ``path``; ``opset`` 14 or newer. ``unrolled.onnx.to_onnx.to_model`` describes the
    graph each network becomes and what ``lengths`` and ``state`` add. Returns the path."""
    require_onnx()
    from unrolled.onnx import to_onnx as module

    return module.export(model, path, opset=opset, lengths=lengths, state=state)


def load(path):
    """The ONNX file (or ``onnx.ModelProto``) ``path`` as an ``OnnxGraph``: its recurrent nodes as
    unrolled layers, the glue around them computed in NumPy. ValueError naming the node and its
    operator for anything it cannot convert."""
    require_onnx()
    from unrolled.onnx.from_onnx import load_graph

    return load_graph(path)


__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "export", "load", "require_onnx"]
