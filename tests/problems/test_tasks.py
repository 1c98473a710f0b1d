import pytest
import torch

from lgl2o.problems import seeds, tasks


def _autograd_loss(task, params, batch):
    return task.forward(params, batch)[0]


@pytest.mark.parametrize("activation", tasks.ACTIVATIONS)
@pytest.mark.parametrize("hidden", [(), (20,), (16, 8)])
def test_mlp_backward_matches_autograd(activation, hidden):
    task = tasks.MLP("digits", hidden=hidden, activation=activation)
    p = task.init_params([0, 1, 2])
    batch = task.sample_batch(seeds.run_generators([0, 1, 2], 1))
    losses, cache = task.forward(p, batch)
    g = task.backward(p, cache)
    q = p.clone().requires_grad_(True)
    z = task._logits(q, task.train.x[batch])
    ref = torch.nn.functional.cross_entropy(z.reshape(-1, 10), task.train.y[batch].reshape(-1), reduction="none")
    (ga,) = torch.autograd.grad(ref.view(3, -1).mean(1).sum(), q)
    assert torch.allclose(losses, ref.view(3, -1), atol=1e-5)
    assert torch.allclose(g, ga, atol=1e-6)
    assert g.shape == (3, task.dim)


def test_mlp_dimensions_and_paper_default(data_root):
    task = tasks.MLP("mnist")
    assert task.dim == 784 * 20 + 20 + 20 * 10 + 10 == 15910
    p = task.init_params([0])
    assert float(task.full_loss(p)) == pytest.approx(2.3, abs=0.15)  # ~log 10 at initialisation
    assert 0.0 <= float(task.accuracy(p)) <= 1.0


def test_init_depends_only_on_the_seed():
    task = tasks.MLP("digits")
    assert torch.equal(task.init_params([3, 4])[1], task.init_params([4])[0])
    assert not torch.equal(task.init_params([3])[0], task.init_params([4])[0])


def test_conv_net_gradient_and_batching(data_root):
    task = tasks.ConvNet("mnist")
    p = task.init_params([0, 1])
    batch = task.sample_batch(seeds.run_generators([0, 1], 1))
    l2, c2 = task.forward(p, batch)
    g2 = task.backward(p, c2)
    l1, c1 = task.forward(p[1:], batch[1:])
    g1 = task.backward(p[1:], c1)
    assert torch.allclose(l2[1], l1[0], atol=1e-5) and torch.allclose(g2[1], g1[0], atol=1e-5)
    # a central finite difference along the gradient's direction (where float32 resolves it)
    d = g2[:1] / g2[:1].norm()
    eps = 1e-2
    fd = (task.forward(p[:1] + eps * d, batch[:1])[0].mean() - task.forward(p[:1] - eps * d, batch[:1])[0].mean()) / (2 * eps)
    assert float(fd) == pytest.approx(float((g2[:1] * d).sum()), rel=2e-2)
    # the evaluation loop runs under no_grad: the gradient must not depend on it
    with torch.no_grad():
        l3, c3 = task.forward(p, batch)
        g3 = task.backward(p, c3)
    assert torch.equal(l3, l2) and torch.equal(g3, g2)


def test_quadratic_constants():
    q = tasks.Quadratic(dim=20, mu=0.5, L=4.0, f_star=2.0)
    eig = torch.linalg.eigvalsh(q.A.double())
    assert float(eig.min()) == pytest.approx(0.5, rel=1e-4) and float(eig.max()) == pytest.approx(4.0, rel=1e-4)
    assert float(q.full_loss(q.x_star.unsqueeze(0))) == pytest.approx(2.0, abs=1e-5)
    x = q.init_params([0])
    _, cache = q.forward(x)
    assert torch.allclose(q.backward(x, cache), (x - q.x_star) @ q.A)


def test_bad_task_parameters():
    with pytest.raises(ValueError, match="unknown activation 'gelu'; allowed: sigmoid, relu, tanh"):
        tasks.MLP("digits", activation="gelu")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        tasks.MLP("digits", batch_size=0)
    with pytest.raises(ValueError, match="unknown task kind"):
        tasks.make_task("rnn")
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        tasks.make_task("mlp", dataset="cifar10")
    with pytest.raises(ValueError, match="ConvNet needs 28x28"):
        tasks.ConvNet("digits")


def test_make_task_takes_a_params_yaml_description_with_lists():
    from_yaml = tasks.make_task(kind="mlp", dataset="digits", hidden=[8, 6], activation="tanh")
    direct = tasks.MLP("digits", hidden=(8, 6), activation="tanh")
    assert from_yaml.name == direct.name and from_yaml.dim == direct.dim == 64 * 8 + 8 + 8 * 6 + 6 + 6 * 10 + 10


@pytest.mark.parametrize("make", [
    lambda: tasks.MLP("digits", hidden=(20,)), lambda: tasks.MLP("digits", hidden=(16, 8), activation="relu"),
    lambda: tasks.logistic_regression("digits"), lambda: tasks.ConvNet("mnist"),
], ids=["mlp", "mlp-relu-deep", "logistic", "conv"])
def test_losses_at_several_points_have_the_bits_of_forward(make, data_root):
    task = make()
    p = task.init_params([0, 1, 2])
    points = (p, p + 0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)), p * 2)
    batch = task.sample_batch(seeds.run_generators([0, 1, 2], 1))
    x, y = task.examples(batch)
    assert torch.equal(x, task.train.x[batch]) and torch.equal(y, task.train.y[batch])
    losses = task.losses(points, batch)
    assert len(losses) == 3
    for q, got in zip(points, losses):
        assert torch.equal(got, task.forward(q, batch)[0])
    assert not torch.equal(losses[0], losses[1])


def test_a_kind_of_task_is_configured_by_its_constructors_keywords():
    """Adding a kind (a module and a line of KINDS) needs no hand-kept list: TaskConfig's keys per kind come
    from the constructor; a keyword TaskConfig has no field for fails here, named."""
    from dataclasses import fields

    from lgl2o.experiments.config import TASK_KEYS, ConfigError, TaskConfig

    assert set(TASK_KEYS) == {"mlp", "logreg", "conv"}  # the kinds on a dataset
    assert TASK_KEYS["logreg"] == ("dataset", "batch_size")
    names = {f.name for f in fields(TaskConfig)}
    for kind, keys in TASK_KEYS.items():
        assert set(keys) <= names, f"TaskConfig lacks a field for {sorted(set(keys) - names)} of {kind!r}"
    with pytest.raises(ConfigError, match="hidden do\\(es\\) not apply to a conv task; allowed: dataset, channels"):
        TaskConfig.from_dict({"kind": "conv", "hidden": [20]}, "task")
    assert tasks.parameters("mlp") == {"dataset": "mnist", "hidden": (20,), "activation": "sigmoid", "batch_size": 128}
