"""`python -m textgan` (and `torchrun -m textgan`) runs the CLI."""

from textgan.cli import main

raise SystemExit(main())
