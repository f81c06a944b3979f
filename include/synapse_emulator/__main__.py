"""``python -m synapse_emulator --host 127.0.0.1 --port PORT [--state FILE] [--seed-user NAME:TOKEN[:FLAGS]]...``"""

import sys

from synapse_emulator.server import main

sys.exit(main())
