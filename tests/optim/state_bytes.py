"""A run's state as a resume writes and reads it: each object's ``state_dict`` through ``torch.save``, as bytes."""
import io

import torch


def saved(done: int | None, **objs) -> dict:
    """{"done": steps taken, key: the bytes of ``obj.state_dict()``} for each keyword."""
    out = {"done": done}
    for key, obj in objs.items():
        buf = io.BytesIO()
        torch.save(obj.state_dict(), buf)
        out[key] = buf.getvalue()
    return out


def restore(state: dict, **objs) -> None:
    """Load each keyword's object from its bytes in ``state``."""
    for key, obj in objs.items():
        obj.load_state_dict(torch.load(io.BytesIO(state[key]), weights_only=True))
