import sys

from ftproxy.cli import main

sys.exit(main())
