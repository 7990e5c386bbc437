import sys

from gan_lab.cli import main

sys.exit(main())
