"""``python -m model_core <command>``: the numpy runtime's command line (see ``model_core/cli.py``)."""
import sys

from .cli import main

sys.exit(main())
