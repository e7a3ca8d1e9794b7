"""`python -m gate.cli`: the same as `gatectl`."""
import sys

from gate.cli.main import main

sys.exit(main())
