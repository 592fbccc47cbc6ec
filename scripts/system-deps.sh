#!/usr/bin/env bash
# Installs the Debian packages the tests need, where they are missing:
# bubblewrap (the grader's sandbox), chromium (the browser tests), npm (a local MathJax),
# fonts-noto-cjk (Chinese glyphs, so the browser shows the Chinese edition's text, not boxes).
set -euo pipefail
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v chromium >/dev/null || need+=(chromium)
command -v npm >/dev/null || need+=(npm)
{ command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]; } \
  || need+=(fonts-noto-cjk)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
