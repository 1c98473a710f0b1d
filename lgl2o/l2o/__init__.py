"""The learned optimizer: the coordinatewise LSTM (``model``, the reference), its checkpoints, the
ways of computing its step behind one registry (``backends``), its protocol optimizer (``optimizer``),
its torch.optim adapter, and meta-training (``meta``)."""
