"""The recurrent LanguageModel: stateful truncated BPTT, parity with torch, sampling and scoring,
save / load, exact resume, and ``unrolled lm train | sample | score``."""

import json

import numpy as np
import pytest

from unrolled.cli import main
from unrolled.tasks.lm import sampling
from unrolled.tasks.lm.model import LanguageModel
from unrolled.tasks.lm.network import RecurrentLM
from unrolled.nn.recurrent import LSTM

VERSE = ("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
         "Rough winds do shake the darling buds of May,\nAnd summer's lease hath all too short a date;\n") * 4
TINY = dict(embedding_dim=8, hidden_size=16, num_layers=1, dropout=0.0, seq_len=10, batch_size=4, lr=1e-2,
            patience=None, progress=False)


@pytest.fixture(scope="module")
def fitted():
    return LanguageModel(**TINY, epochs=3).fit(VERSE)


def test_recurrent_lm_matches_torch_on_one_segment_from_a_carried_state():
    """Logits, loss and every gradient of a segment that starts from a carried (detached) state."""
    torch = pytest.importorskip("torch")
    V, E, H, T, B = 7, 4, 5, 6, 3
    net = RecurrentLM("lstm", V, E, H, num_layers=2, dtype=np.float64, seed=1)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    h0, c0 = rng.standard_normal((2, 2, B, H)) * 0.5
    logits, (h_n, c_n) = net.forward(x, (h0, c0))
    net.zero_grad()
    loss = torch.nn.functional.cross_entropy  # the oracle's loss; ours is losses.CrossEntropyLoss in fit
    dlogits = torch.softmax(torch.tensor(logits), -1).numpy()
    np.put_along_axis(dlogits, y[..., None], np.take_along_axis(dlogits, y[..., None], -1) - 1, -1)
    net.backward(dlogits / y.size)

    emb, lstm, lin = torch.nn.Embedding(V, E), torch.nn.LSTM(E, H, 2), torch.nn.Linear(H, V)
    modules = {"encoder": emb, "rnn": lstm, "decoder": lin}
    for m in modules.values():
        m.double()
    for name, m in modules.items():
        m.load_state_dict({k[len(name) + 1:]: torch.tensor(v) for k, v in net.state_dict().items()
                           if k.startswith(name + ".")})
    out, (th, tc) = lstm(emb(torch.tensor(x)), (torch.tensor(h0), torch.tensor(c0)))
    tlogits = lin(out)
    loss(tlogits.reshape(-1, V), torch.tensor(y).reshape(-1)).backward()
    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n, th.detach().numpy(), rtol=1e-10, atol=1e-12)
    for name, m in modules.items():
        for k, p in m.named_parameters():
            ours = net.grads[f"{name}.{k}"]
            assert np.allclose(ours, p.grad.numpy(), rtol=1e-8, atol=1e-12), \
                f"{name}.{k}: max diff {np.abs(ours - p.grad.numpy()).max()}"


def test_tied_weights_match_torch_and_take_one_step(tmp_path):
    """Press & Wolf's tying: the decoder's weight is the embedding matrix, its gradient the sum of
    both uses (against torch, whose decoder.weight is its encoder.weight), stepped once by SGD; the
    state dict keeps both keys, and a saved model loads back tied."""
    torch = pytest.importorskip("torch")
    from unrolled.train.optim import SGD

    V, H, T, B = 11, 6, 5, 3
    net = RecurrentLM("lstm", V, H, H, num_layers=2, tie_weights=True, dtype=np.float64, seed=2)
    assert net.params["decoder.weight"] is net.params["encoder.weight"]
    assert net.num_parameters() == sum(p.size for k, p in net.params.items() if k != "decoder.weight")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    net.zero_grad()
    loss, _ = net.forward_loss(x, y)
    net.backward_loss()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    from unrolled.train.hooks import grad_norm
    from unrolled.train.optim import clip_grad_norm_
    from unrolled.train.world import _distinct
    assert grad_norm(net) == pytest.approx(clip_grad_norm_(net, 1e9), rel=1e-12)  # the tied gradient once
    assert "decoder.weight" not in _distinct(net.grads)  # sent once by AverageGradients
    SGD(net, lr=0.5).step()

    emb, lstm, lin = torch.nn.Embedding(V, H), torch.nn.LSTM(H, H, 2), torch.nn.Linear(H, V)
    lin.weight = emb.weight  # torch's word_language_model ties them so
    modules = {"encoder": emb, "rnn": lstm, "decoder": lin}
    for name, m in modules.items():
        m.double()
        m.load_state_dict({k[len(name) + 1:]: torch.tensor(v) for k, v in before.items() if k.startswith(name + ".")})
    out, _ = lstm(emb(torch.tensor(x)))
    theirs = torch.nn.functional.cross_entropy(lin(out).reshape(-1, V), torch.tensor(y).reshape(-1))
    theirs.backward()
    assert loss == pytest.approx(theirs.item(), rel=1e-12)
    np.testing.assert_allclose(net.grads["encoder.weight"], emb.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net.params["encoder.weight"], before["encoder.weight"] - 0.5 * emb.weight.grad.numpy(),
                               rtol=1e-12, atol=1e-12)  # one step, not two

    untied = {**before, "decoder.weight": before["decoder.weight"] + 1}
    with pytest.raises(ValueError, match="'encoder.weight' and 'decoder.weight' differ, but this model ties them"):
        net.load_state_dict(untied)

    lm = LanguageModel(**{**TINY, "embedding_dim": 16}, tie_weights=True, epochs=1).fit(VERSE)
    lm.save(tmp_path / "tied")
    again = LanguageModel.load(tmp_path / "tied")
    assert again.net_.params["decoder.weight"] is again.net_.params["encoder.weight"]
    assert again.score("Shall I compare thee") == pytest.approx(lm.score("Shall I compare thee"))


def spy_on_lstm(monkeypatch):
    """Record every training-mode forward (state in, state out) and backward (dstate) of LSTM."""
    calls = []
    forward, backward = LSTM.forward, LSTM.backward

    def copy(state):
        return None if state is None else tuple(np.array(s) for s in state)

    def spy_forward(self, x, state=None, lengths=None):
        y, out = forward(self, x, state, lengths)
        if self.training:
            calls.append({"in": copy(state), "out": copy(out)})
        return y, out

    def spy_backward(self, dy, dstate=None):
        calls[-1]["dstate"] = dstate
        return backward(self, dy, dstate)

    monkeypatch.setattr(LSTM, "forward", spy_forward)
    monkeypatch.setattr(LSTM, "backward", spy_backward)
    return calls


def same(a, b):
    return a is not None and b is not None and all(np.array_equal(p, q) for p, q in zip(a, b))


def test_tbptt_carries_the_state_across_segments_and_cuts_the_gradient(monkeypatch):
    calls = spy_on_lstm(monkeypatch)
    lm = LanguageModel(**TINY, epochs=2).fit(VERSE)
    n = len(calls) // 2  # segments per epoch
    assert n >= 5 and len(calls) == 2 * n
    for epoch in (0, 1):
        seg = calls[epoch * n:(epoch + 1) * n]
        assert seg[0]["in"] is None  # every pass over the streams starts from the zero state
        for k in range(1, n):
            assert same(seg[k]["in"], seg[k - 1]["out"]), f"segment {k} did not start where {k - 1} ended"
    assert all(c["dstate"] is None for c in calls)  # no gradient enters a segment's final state
    assert lm.steps_ == 2 * n


def test_an_epoch_may_stop_mid_pass_and_the_next_continues_with_the_state(monkeypatch):
    calls = spy_on_lstm(monkeypatch)
    LanguageModel(**TINY, epochs=1).fit(VERSE)
    n = len(calls)  # segments in one pass over the streams
    calls.clear()
    lm = LanguageModel(**TINY, eval_every=3, max_steps=n + 2).fit(VERSE)
    assert len(calls) == n + 2 and len(lm.history_) == -(-(n + 2) // 3)
    assert same(calls[3]["in"], calls[2]["out"])  # across the epoch boundary
    assert calls[n]["in"] is None  # wrapped around to the start of the streams: zero state


def test_max_minutes_cuts_training_and_says_so(monkeypatch):
    """A fake clock where each training step takes 6 s: a 0.5-minute budget allows at most 5
    steps however many epochs are asked for, and the model records that time ran out."""
    import unrolled.train.trainer as engine

    clock = {"now": 0.0}
    monkeypatch.setattr(engine.time, "perf_counter", lambda: clock["now"])
    real_step = engine.optim.Adam.step

    def slow_step(self):
        clock["now"] += 6.0
        return real_step(self)

    monkeypatch.setattr(engine.optim.Adam, "step", slow_step)
    lm = LanguageModel(**TINY, epochs=50, max_minutes=0.5).fit(VERSE)
    assert lm.out_of_time_ and lm.steps_ == 5 and clock["now"] <= 30
    assert LanguageModel(**TINY, epochs=1).fit(VERSE).out_of_time_ is False


def test_a_tiny_model_overfits_a_tiny_text():
    lm = LanguageModel(**TINY, epochs=25).fit(VERSE)
    losses = [r["train_loss"] for r in lm.history_]
    assert losses[0] > 2.5 and losses[-1] < 0.3 * losses[0]
    assert lm.sample("Rough w", 10, temperature=0) == "inds do sh"
    assert lm.train_tokens_per_second_ > 0


def test_same_seed_same_model_same_sample(fitted):
    again = LanguageModel(**TINY, epochs=3).fit(VERSE)
    for k, v in fitted.net_.state_dict().items():
        assert np.array_equal(again.net_.params[k], v)
    a = fitted.sample("Shall", length=60, seed=3)
    assert a == again.sample("Shall", length=60, seed=3) == fitted.sample("Shall", length=60, seed=3)
    assert a != fitted.sample("Shall", length=60, seed=4)
    assert len(a) == 60
    assert fitted.sample("Thou", 20, temperature=0) == fitted.sample("Thou", 20, top_k=1, seed=5)
    assert fitted.sample("Thou", 5, with_prime=True, seed=1).startswith("Thou")
    other = LanguageModel(**{**TINY, "seed": 1}, epochs=3).fit(VERSE)
    assert not np.array_equal(other.net_.params["decoder.weight"], fitted.net_.params["decoder.weight"])


def test_score_is_the_sum_of_token_logprobs_and_perplexity_their_mean(fitted):
    sentence = "Thou art more lovely"
    lp = fitted.token_logprobs(sentence)
    assert lp.shape == (len(sentence),) and np.all(lp < 0)
    assert fitted.score(sentence) == pytest.approx(lp.sum(), rel=1e-12)
    assert fitted.perplexity(sentence) == pytest.approx(np.exp(-lp.mean()), rel=1e-12)
    tok = fitted.tokenizer_  # the one-token-at-a-time step function (T = 1) agrees with one pass
    stepped = sampling.token_logprobs(fitted.step, tok.encode(sentence), tok.encode("\n"))
    np.testing.assert_allclose(stepped, lp, rtol=1e-5, atol=1e-6)
    long = VERSE * 3  # longer than one scoring chunk: the state is carried between chunks
    assert len(long) > 256
    np.testing.assert_allclose(fitted.token_logprobs(long)[:50], fitted.token_logprobs(long[:50]), rtol=1e-5)
    ranked = fitted.rank(["Rough winds do shake", "wdsin hRgou ka eosh"])
    assert ranked[0][0] == "Rough winds do shake" and ranked[0][1] == pytest.approx(fitted.score("Rough winds do shake"))


def test_distribution_of_the_next_token_sums_to_one(fitted):
    logp, _ = fitted.step(fitted.tokenizer_.encode("\nShall I"), None)
    assert logp.shape == (fitted.vocab_size_,) and np.exp(logp).sum() == pytest.approx(1.0, abs=1e-9)


def test_evaluate_reports_perplexity_and_bits(fitted):
    ev = fitted.evaluate(VERSE)
    assert ev["perplexity"] == pytest.approx(np.exp(ev["loss"]))
    assert ev["bits_per_char"] == pytest.approx(ev["bits_per_token"]) == pytest.approx(ev["loss"] / np.log(2))
    row = fitted.history_[-1]
    assert {"val_loss", "val_perplexity", "val_bits_per_char", "val_bits_per_token"} <= set(row)


def test_word_level_model(tmp_path):
    lm = LanguageModel("word", "gru", **{**TINY, "seq_len": 5, "batch_size": 2}, epochs=2, min_freq=1).fit(VERSE)
    assert lm.tokenizer_.level == "word" and lm.vocab_size_ > 20
    text = lm.sample("Shall I", 8, seed=0)
    assert text and text == lm.sample("Shall I", 8, seed=0)
    assert lm.score("Rough winds do shake") == pytest.approx(lm.token_logprobs("Rough winds do shake").sum())
    lm.save(tmp_path)
    assert LanguageModel.load(tmp_path).sample("Shall I", 8, seed=0) == text


def test_save_then_load_gives_the_same_scores_and_samples(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    assert not list((tmp_path / "m").glob("*.pkl"))
    back = LanguageModel.load(tmp_path / "m")
    run_only = ("checkpoint_dir", "progress")  # where and how a run shows itself: not saved
    assert {k: v for k, v in back.get_params().items() if k not in run_only} == \
        {k: v for k, v in fitted.get_params().items() if k not in run_only} | {"dtype": "float32"}
    assert back.tokenizer_.vocab_ == fitted.tokenizer_.vocab_
    assert back.score("Rough winds") == fitted.score("Rough winds")
    assert back.sample("Rough", 40, seed=2) == fitted.sample("Rough", 40, seed=2)
    assert back.history_ == fitted.history_


def test_resume_after_a_crash_equals_the_uninterrupted_run(tmp_path):
    params = {**TINY, "dropout": 0.3, "num_layers": 2, "eval_every": 4, "epochs": 4, "lr_decay": 0.7}
    full = LanguageModel(**params).fit(VERSE)

    def crash(row):
        if row["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        LanguageModel(**params, checkpoint_dir=tmp_path).fit(VERSE, log=crash)
    assert json.loads((tmp_path / "last.json").read_text())["epoch"] == 2
    # the parameters not given are the saved run's (a different seed is refused: tests/reliability)
    resumed = LanguageModel(checkpoint_dir=tmp_path, progress=False).fit(VERSE, resume=True)
    assert resumed.get_params() == {**LanguageModel(**params).get_params(), "checkpoint_dir": tmp_path}
    for k, v in full.net_.state_dict().items():
        assert np.array_equal(resumed.net_.params[k], v), f"{k}: max diff {np.abs(resumed.net_.params[k] - v).max()}"
    assert resumed.history_ == full.history_ and resumed.steps_ == full.steps_


@pytest.mark.parametrize("kw, fix", [
    ({"level": "byte"}, "'char', 'word' or 'spaced'"),
    ({"cell": "transformer"}, "'rnn', 'lstm' or 'gru'"),
    ({"dropout": 1.0}, "use a number in [0, 1)"),
    ({"hidden_size": 0}, "use a whole number >= 1"),
    ({"lr": 0}, "use a positive number"),
    ({"lr_decay": 1.5}, "use a number in (0, 1] such as 0.5"),
    ({"clip_norm": -1.0}, "or None for no clipping"),
    ({"max_steps": 0}, "or None to let epochs decide"),
    ({"max_minutes": -1}, "or None for no time limit"),
    ({"batch_size": 10_000}, "smaller batch_size or more text"),
    ({"tie_weights": True}, "tie_weights=True needs embedding_dim == hidden_size"),
])
def test_bad_hyperparameters_name_the_fix(kw, fix):
    with pytest.raises(ValueError, match="LanguageModel|batch_size") as e:
        LanguageModel(**{**TINY, **kw}).fit(VERSE)
    assert fix in str(e.value)


def test_misuse_says_what_to_do(fitted):
    with pytest.raises(ValueError, match="not fitted"):
        LanguageModel().sample()
    with pytest.raises(ValueError, match="string of text, a file path"):
        LanguageModel(**TINY).fit(["not", "text"])
    with pytest.raises(ValueError, match="pathlib.Path"):
        LanguageModel(**TINY).fit(__file__)
    with pytest.raises(ValueError, match="no tokens"):
        fitted.score("")
    with pytest.raises(ValueError, match="temperature"):
        fitted.sample("a", 5, temperature=-1)
    with pytest.raises(ValueError, match="list of candidate"):
        fitted.rank("one string")


def test_fit_reads_a_path(tmp_path):
    (tmp_path / "verse.txt").write_text(VERSE)
    from_path = LanguageModel(**TINY, max_steps=2).fit(tmp_path / "verse.txt")
    from_text = LanguageModel(**TINY, max_steps=2).fit(VERSE)
    assert from_path.history_ == from_text.history_


# -- the command line ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    (d / "verse.txt").write_text(VERSE * 3)
    code = main(["lm", "train", "--text", str(d / "verse.txt"), "--max-steps", "6", "--eval-every", "3",
                 "--hidden-size", "16", "--num-layers", "1", "--embedding-dim", "8", "--seq-len", "10",
                 "--batch-size", "4", "--ngram-order", "3", "--out", str(d / "run")])
    assert code == 0
    return d


def test_cli_train_writes_model_metrics_and_plot(run_dir):
    run = run_dir / "run"
    assert (run / "loss.png").stat().st_size > 1000
    assert (run / "model" / "estimator.json").is_file() and (run / "checkpoints" / "last.json").is_file()
    m = json.loads((run / "metrics.json").read_text())
    assert m["steps"] == 6 and m["epochs"] == 2 and m["level"] == "char"
    assert m["config"]["task"] == "lm" and m["config"]["hidden_size"] == 16 and m["data"]["characters"]["train"] > 0
    for split in ("validation", "test"):
        assert m[split]["perplexity"] > 1 and m[split]["bits_per_char"] > 0
        assert m["ngram"][split]["perplexity"] > 1
    assert m["ngram"]["order"] == 3 and m["ngram"]["vocab_size"] == m["vocab_size"]
    assert m["train_tokens_per_second"] > 0


def test_cli_sample_is_seeded_and_score_ranks(run_dir, capsys):
    args = ["lm", "sample", "--model", str(run_dir / "run"), "--prime", "Shall", "--length", "30", "--seed", "4"]
    capsys.readouterr()
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first and first.startswith("Shall")
    assert main(["lm", "score", "--model", str(run_dir / "run" / "model"), "Rough winds", "sdniw hguoR"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["rank", "log-prob", "perplexity"] and len(out) == 3
    assert main(["lm", "score", "--model", str(run_dir / "run"), "--text", str(run_dir / "verse.txt")]) == 0
    assert "verse.txt" in capsys.readouterr().out


@pytest.mark.parametrize("argv, fix", [
    (["lm", "train", "--text", "{d}/empty.txt"], "is empty"),
    (["lm", "train", "--text", "{d}/verse.txt", "--dropout", "1.5", "--max-steps", "1"], "dropout=1.5 is invalid"),
    (["lm", "train", "--text", "{d}/verse.txt", "--resume"], "--resume needs --out"),
    (["lm", "sample", "--model", "{d}"], "no trained model"),
    (["lm", "sample", "--model", "{d}/run", "--temperature", "-1"], "temperature"),
    (["lm", "score", "--model", "{d}/run"], "either sentences"),
    (["lm", "score", "--model", "{d}/run", "--text", "{d}/missing.txt"], "not found"),
])
def test_cli_bad_input_is_one_line_and_exit_2(run_dir, capsys, argv, fix):
    (run_dir / "empty.txt").write_text("")
    capsys.readouterr()
    assert main([a.format(d=run_dir) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled: error:") and fix in err and "Traceback" not in err
