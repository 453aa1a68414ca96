"""Ten optimizer steps on a small LSTM model follow torch.optim's trajectory (float64)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import unrolled  # noqa: E402
from unrolled.nn.losses import CrossEntropyLoss  # noqa: E402
from unrolled.train.optim import SGD, Adam, AdamW, clip_grad_norm_  # noqa: E402

T, B, V, E, H = 6, 3, 11, 5, 7


def build(seed=0):
    model = unrolled.Sequential(
        ("emb", unrolled.Embedding(V, E, dtype=np.float64, seed=seed)),
        ("rnn", unrolled.LSTM(E, H, num_layers=2, dtype=np.float64, seed=seed + 1)),
        ("out", unrolled.Linear(H, V, dtype=np.float64, seed=seed + 2)),
    )

    class Torch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(V, E)
            self.rnn = torch.nn.LSTM(E, H, num_layers=2)
            self.out = torch.nn.Linear(H, V)

        def forward(self, ids):
            return self.out(self.rnn(self.emb(ids))[0])

    tmodel = Torch().double()
    tmodel.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    return model, tmodel


@pytest.mark.parametrize("name", ["sgd_momentum", "adam_clip_wd", "adamw_clip"])
def test_ten_steps_follow_torch(name):
    model, tmodel = build()
    if name == "sgd_momentum":
        opt, topt = SGD(model, lr=0.5, momentum=0.9), torch.optim.SGD(tmodel.parameters(), lr=0.5, momentum=0.9)
        clip = None
    elif name == "adam_clip_wd":
        opt = Adam(model, lr=0.05, weight_decay=1e-2)
        topt = torch.optim.Adam(tmodel.parameters(), lr=0.05, weight_decay=1e-2)
        clip = 0.5
    else:
        opt = AdamW(model, lr=0.05, weight_decay=0.1)
        topt = torch.optim.AdamW(tmodel.parameters(), lr=0.05, weight_decay=0.1)
        clip = 0.5
    rng = np.random.default_rng(0)
    ce, tce = CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    losses, tlosses = [], []
    for step in range(10):
        ids, targets = rng.integers(0, V, size=(T, B)), rng.integers(0, V, size=(T, B))
        loss = ce.forward(model.forward(ids), targets)
        model.zero_grad()
        model.backward(ce.backward())
        norm = clip_grad_norm_(model, clip) if clip else None
        opt.step()

        topt.zero_grad()
        tloss = tce(tmodel(torch.tensor(ids)).reshape(-1, V), torch.tensor(targets).reshape(-1))
        tloss.backward()
        tnorm = torch.nn.utils.clip_grad_norm_(tmodel.parameters(), clip) if clip else None
        topt.step()

        losses.append(loss)
        tlosses.append(tloss.item())
        if clip:
            assert norm == pytest.approx(tnorm.item(), rel=1e-6)
        for k, p in tmodel.state_dict().items():
            diff = np.max(np.abs(model.params[k] - p.numpy())) / max(np.max(np.abs(p.numpy())), 1e-12)
            assert diff < 1e-6, f"step {step}: {k} differs by {diff:.2e} (relative)"
    assert np.allclose(losses, tlosses, rtol=1e-6), (losses, tlosses)
    assert losses[-1] != losses[0]  # the parameters really moved
