import pytest
import torch

from lgl2o.optim import candidates
from lgl2o.optim.candidates import pick

nan, inf = float("nan"), float("inf")
needs_native = pytest.mark.skipif(not candidates.native_available(),
                                  reason="the native row selection needs a C compiler")


def _bits(x):
    return x.contiguous().view(torch.int32)  # compares NaN payloads and the sign of zero too


def _same(a, b):
    return torch.equal(_bits(a[0]), _bits(b[0])) and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])


# one run per case: (confident, proposal row, proposal estimate, fallback row, fallback estimate) -> which row
CASES = [
    (True, 1.0, 0.5, 2.0, 0.7, "proposal"),      # both finite, the test is confident
    (False, 1.0, 0.5, 2.0, 0.7, "fallback"),     # both finite, not confident: ties and doubts go to the fallback
    (True, nan, 0.5, 2.0, 0.7, "fallback"),      # a non-finite proposal is never taken
    (True, 1.0, inf, 2.0, 0.7, "fallback"),      # ... nor one whose estimate is non-finite
    (False, 1.0, 0.5, -inf, 0.7, "proposal"),    # a finite proposal beats a non-finite fallback
    (False, 1.0, 0.5, 2.0, nan, "proposal"),     # ... and a fallback whose estimate is non-finite
    (True, inf, 0.5, nan, 0.7, "current"),       # both non-finite: the current iterate is kept
    (False, 1.0, nan, 2.0, -inf, "current"),
]


def _table(P=5, dtype=torch.float32):
    conf = torch.tensor([c[0] for c in CASES])
    prop = torch.tensor([[c[1]] * P for c in CASES], dtype=dtype)
    fall = torch.tensor([[c[3]] * P for c in CASES], dtype=dtype)
    prop[:, 1:] = prop[:, 1:].nan_to_num(0.0, 0.0, 0.0)  # one non-finite entry per row is enough
    fall[:, :-1] = fall[:, :-1].nan_to_num(0.0, 0.0, 0.0)
    cur = torch.full((len(CASES), P), 3.0, dtype=dtype)
    est = [torch.tensor([c[i] for c in CASES], dtype=dtype) for i in (2, 4)]
    return conf, prop, fall, cur, est


@pytest.mark.parametrize("path", ["native", "torch"])
def test_pick_applies_the_rule_for_every_case(path):
    if path == "native" and not candidates.native_available():
        pytest.skip("the native row selection needs a C compiler")
    conf, prop, fall, cur, (ep, ef) = _table()
    new, take, keep = pick(conf, prop, fall, cur, ep, ef, native=path == "native")
    rows = {"proposal": prop, "fallback": fall, "current": cur}
    for s, case in enumerate(CASES):
        assert torch.equal(_bits(new[s]), _bits(rows[case[-1]][s])), (s, case)
    assert take.tolist() == [c[-1] == "proposal" for c in CASES]
    assert keep.tolist() == [c[-1] == "current" for c in CASES]


@needs_native
@pytest.mark.parametrize("S", [1, 3, 16])
@pytest.mark.parametrize("estimates", ["both", "proposal only", "none"])
def test_native_and_torch_paths_agree_bit_for_bit(S, estimates):
    g = torch.Generator().manual_seed(S)
    specials = torch.tensor([nan, inf, -inf, -0.0, 0.0, 3.4e38, 1e-45])
    for trial in range(50):
        P = int(torch.randint(1, 200, (1,), generator=g))
        wide = torch.randn(3, S, P + 7, generator=g)
        for x in wide:  # sprinkle special values over a few runs' rows
            n = int(torch.randint(0, 4, (1,), generator=g))
            x.view(-1)[torch.randint(x.numel(), (n,), generator=g)] = specials[torch.randint(7, (n,), generator=g)]
        prop, fall, cur = (w[:, :P] for w in wide)  # rows with a stride past their length
        est = torch.rand(2, S, generator=g)
        est[torch.rand(2, S, generator=g) < 0.2] = nan
        ep, ef = {"both": (est[0], est[1]), "proposal only": (est[0], None), "none": (None, None)}[estimates]
        conf = torch.rand(S, generator=g) < 0.5
        native = pick(conf, prop, fall, cur, ep, ef)
        reference = pick(conf, prop, fall, cur, ep, ef, native=False)
        assert _same(native, reference), trial


@needs_native
def test_float32_cpu_takes_the_native_path_and_other_input_the_torch_one(monkeypatch):
    calls = []
    f = candidates._native()
    monkeypatch.setattr(candidates, "_native", lambda: lambda *a: (calls.append(1), f(*a)))
    conf, prop, fall, cur, (ep, ef) = _table()
    new32 = pick(conf, prop, fall, cur, ep, ef)
    assert len(calls) == 1
    conf, prop, fall, cur, (ep, ef) = _table(dtype=torch.float64)
    new64 = pick(conf, prop, fall, cur, ep, ef)
    assert len(calls) == 1 and new64[0].dtype == torch.float64
    assert torch.equal(new32[0].double().nan_to_num(7.0), new64[0].nan_to_num(7.0))
    assert torch.equal(new32[1], new64[1]) and torch.equal(new32[2], new64[2])
    pick(conf.clone(), *_table()[1:4], *_table()[4], native=False)
    assert len(calls) == 1  # native=False never calls the C pass
