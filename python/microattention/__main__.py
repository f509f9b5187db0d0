import sys

from microattention.cli import main

sys.exit(main())
