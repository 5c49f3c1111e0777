"""Stand-in for the get-pip.py bootstrap that ansible-test downloads from ci-files.testing.ansible.com.

That host is unreachable from these machines (only PyPI and Debian are). ansible-test runs this
file with pip-install arguments (e.g. ``pip==24.2 setuptools wheel``); we bootstrap pip from the
interpreter's own ensurepip wheel, then let pip install exactly what was asked for from PyPI.
"""
import ensurepip
import os
import subprocess
import sys

# get-pip.py's own switches; pip install does not know them (the venv has no setuptools/wheel anyway).
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap(upgrade=True)
# ensurepip sets PIP_CONFIG_FILE=/dev/null in our own environment; let pip read its config again
# (CA bundle, proxy or index mirror of the site).
os.environ.pop("PIP_CONFIG_FILE", None)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
