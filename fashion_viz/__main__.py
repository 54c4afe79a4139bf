import sys

from fashion_viz.cli import main

sys.exit(main())
