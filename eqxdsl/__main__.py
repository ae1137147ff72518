"""`python -m eqxdsl`: the same as the `eqxdsl` command."""

from eqxdsl.cli import main

raise SystemExit(main())
