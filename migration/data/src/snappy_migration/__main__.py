"""`python -m snappy_migration`: the `snappy migrate` command."""

import sys

from snappy_migration.cli import main

sys.exit(main(prog="python -m snappy_migration"))
