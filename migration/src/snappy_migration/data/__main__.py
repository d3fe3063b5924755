"""`python -m snappy_migration.data`: the `snappy migrate` command."""

import sys

from snappy_migration.data.cli import main

sys.exit(main(prog="python -m snappy_migration.data"))
