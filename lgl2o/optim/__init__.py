"""Everything that moves parameters through the one optimizer protocol (``protocol``): SGD and Adam,
the guards LGL2O and GL2O with their decision rule, adversarial proposals for testing a guard, and the
guard as a ``torch.optim.Optimizer``. Nothing here knows the learned optimizer's internals."""
