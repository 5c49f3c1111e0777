# Copyright (c) sovereign.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m sovereign_kms``: serve the KMS v2 API, or ``--healthcheck`` it."""
import sys

from sovereign_kms.server import main

sys.exit(main())
