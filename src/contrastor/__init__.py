"""contrastor: contrastive representation learning for PyTorch.

Subpackages: :mod:`contrastor.losses` (loss modules), :mod:`contrastor.functional` (pure
functions), :mod:`contrastor.engine` (the shared computation), :mod:`contrastor.eval`
(metrics and diagnostics), :mod:`contrastor.data`, :mod:`contrastor.models`,
:mod:`contrastor.train`, and the ``contrastor`` command line.
"""

__version__ = "0.1.0"
