#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (as root, Ubuntu).
# Installs bubblewrap (the sandbox of every exercise), Python 3.11 and the pinned packages of
# requirements.txt, then ConvLab itself (convlab + autograder) from this folder.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends bubblewrap python3.11 python3.11-venv
python3.11 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install --extra-index-url https://download.pytorch.org/whl/cpu \
    -r "$HERE/requirements.txt"
/autograder/venv/bin/pip install --no-deps "$HERE"
