import sys

from pointad.cli import main

sys.exit(main())
