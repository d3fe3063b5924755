"""`python -m snappy_edge`: the edge, front and lane (snappy_edge.serve)."""

import sys

from snappy_edge.serve import main

sys.exit(main())
