import sys

from ftproxy.deploy.cli import main

sys.exit(main())
