"""Put tools/kms-vault-plugin on sys.path so its ``sovereign_kms`` package imports as it does when deployed."""
import sys
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "tools" / "kms-vault-plugin"
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))
