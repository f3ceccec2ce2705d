"""``python -m contrastor`` runs the command line (also under ``torchrun``)."""

import sys

from contrastor.cli.main import main

sys.exit(main())
