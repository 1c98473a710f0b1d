import json
import math

import pytest
import torch

from lgl2o.l2o import checkpoint, model


def test_preprocessing_at_below_and_above_the_threshold():
    p = 10.0
    t = math.exp(-p)
    g = torch.tensor([1.0, -0.5, t, -t, t / 2, -t / 4, 0.0])
    x = model.preprocess(g, p)
    # above and at e^-p: (log|g|/p, sign g)
    assert x[0].tolist() == pytest.approx([0.0, 1.0])
    assert x[1].tolist() == pytest.approx([math.log(0.5) / p, -1.0])
    assert x[2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-6)
    assert x[3].tolist() == pytest.approx([-1.0, -1.0], abs=1e-6)
    # below: (-1, e^p g)
    assert x[4].tolist() == pytest.approx([-1.0, 0.5], abs=1e-6)
    assert x[5].tolist() == pytest.approx([-1.0, -0.25], abs=1e-6)
    assert x[6].tolist() == [-1.0, 0.0]
    assert torch.isfinite(x).all()


def _net(seed=0):
    net = model.LSTMOptimizer()
    net.reset_parameters(torch.Generator().manual_seed(seed))
    return net


def test_lstm_is_permutation_equivariant_over_coordinates():
    net = _net()
    g = torch.randn(3, 50, generator=torch.Generator().manual_seed(1))
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(2))
    st = net.init_state(g.shape)
    stp = net.init_state(g.shape)
    with torch.no_grad():
        for _ in range(3):
            u, st = net(g, st)
            up, stp = net(g[:, perm], stp)
            assert torch.allclose(u[:, perm], up, atol=1e-7)
            g = g * 0.7 + 0.01
    assert u.abs().max() > 0


def test_update_is_scaled_by_output_scale():
    net = _net()
    g = torch.randn(40)
    with torch.no_grad():
        u1, _ = net(g, net.init_state(g.shape))
        net2 = model.LSTMOptimizer(model.L2OConfig(output_scale=1.0))
        net2.load_state_dict(net.state_dict())
        u2, _ = net2(g, net2.init_state(g.shape))
    assert torch.allclose(u2 * 0.1, u1)


def test_matches_torch_lstm():
    """The fused cell is the standard LSTM (gate order i, f, g, o) of ``nn.LSTM``."""
    net = _net()
    ref = torch.nn.LSTM(2, 20, num_layers=2)
    with torch.no_grad():
        for k in range(2):
            w = net.w[k]
            inp = w.shape[0] - 20
            getattr(ref, f"weight_ih_l{k}").copy_(w[:inp].T)
            getattr(ref, f"weight_hh_l{k}").copy_(w[inp:].T)
            getattr(ref, f"bias_ih_l{k}").copy_(net.b[k])
            getattr(ref, f"bias_hh_l{k}").zero_()
        g = torch.randn(5, 30)
        st = net.init_state(g.shape)
        h = (torch.zeros(2, 150, 20), torch.zeros(2, 150, 20))
        for _ in range(3):
            u, st = net(g, st)
            out, h = ref(model.preprocess(g).reshape(1, 150, 2), h)
            assert torch.allclose(u, net.out(out[0]).view(5, 30) * 0.1, atol=1e-6)


def test_checkpoint_round_trip_gives_identical_proposals(tmp_path):
    net = _net(5)
    checkpoint.save(net, tmp_path / "ck", extra={"note": "test"})
    loaded, meta = checkpoint.load(tmp_path / "ck", expect=model.L2OConfig())
    assert meta["note"] == "test" and meta["l2o"]["hidden"] == 20
    g = torch.randn(2, 77)
    with torch.no_grad():
        a, _ = net(g, net.init_state(g.shape))
        b, _ = loaded(g, loaded.init_state(g.shape))
    assert torch.equal(a, b)


def test_checkpoint_refuses_other_architecture_and_tampered_files(tmp_path):
    net = _net()
    checkpoint.save(net, tmp_path / "ck")
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint is for .*hidden=20.*but .*hidden=32.* was requested"):
        checkpoint.load(tmp_path / "ck", expect=model.L2OConfig(hidden=32))
    js = json.loads((tmp_path / "ck.json").read_text())
    js["l2o"]["hidden"] = 8
    (tmp_path / "ck.json").write_text(json.dumps(js))
    with pytest.raises(checkpoint.CheckpointError, match="tensors do not match the config"):
        checkpoint.load(tmp_path / "ck")
    (tmp_path / "ck.json").write_text("{not json")
    with pytest.raises(checkpoint.CheckpointError, match="not a valid L2O checkpoint config"):
        checkpoint.load(tmp_path / "ck")
    checkpoint.save(net, tmp_path / "ck")
    raw = (tmp_path / "ck.pt").read_bytes()
    for cut in (0, 10, len(raw) // 2):
        (tmp_path / "ck.pt").write_bytes(raw[:cut])
        with pytest.raises(checkpoint.CheckpointError, match="unreadable checkpoint tensors"):
            checkpoint.load(tmp_path / "ck")
    with pytest.raises(checkpoint.CheckpointError, match="missing"):
        checkpoint.load(tmp_path / "nothing")


def test_compiled_l2o_matches_the_eager_one():
    """The stages torch.compile the LSTM for speed; it must give the same updates (to float tolerance)."""
    net = _net(7)
    fast = torch.compile(net, dynamic=False)
    g = torch.randn(2, 300, generator=torch.Generator().manual_seed(0)) * 0.1
    st_a = st_b = net.init_state(g.shape)
    with torch.no_grad():
        for _ in range(3):
            a, st_a = net(g, st_a)
            b, st_b = fast(g, st_b)
            assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
            g = g * 0.5


def test_checkpoint_loader_fuzz_random_bytes_always_give_a_clear_error(tmp_path):
    """Random bytes as the tensors file, random bytes or arbitrary JSON as the config: always a
    CheckpointError (never another exception, never code executed: weights_only=True)."""
    gen = torch.Generator().manual_seed(0)
    net = _net()
    checkpoint.save(net, tmp_path / "ck")
    good_pt, good_js = (tmp_path / "ck.pt").read_bytes(), (tmp_path / "ck.json").read_text()
    for trial in range(40):
        n = int(torch.randint(0, 4096, (1,), generator=gen))
        noise = bytes(torch.randint(0, 256, (n,), generator=gen, dtype=torch.uint8).tolist())
        if trial % 2:  # random tensors file, valid config
            (tmp_path / "ck.pt").write_bytes(noise)
            (tmp_path / "ck.json").write_text(good_js)
        else:  # valid tensors, random or odd config
            (tmp_path / "ck.pt").write_bytes(good_pt)
            odd = ["1", "[]", "null", '{"l2o": 3}', '{"l2o": {"hidden": "x"}}', '{"l2o": {"depth": 2}}']
            (tmp_path / "ck.json").write_bytes(noise if trial % 4 == 0 else odd[trial // 4 % len(odd)].encode())
        with pytest.raises(checkpoint.CheckpointError):
            checkpoint.load(tmp_path / "ck")
