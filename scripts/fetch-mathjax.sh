#!/usr/bin/env bash
# Puts a local copy of MathJax 3 (es5 build and its fonts) where the book serves it from,
# so that math renders with no network at reading time.
set -euo pipefail
dest=${1:-book/_static/mathjax}
version=3.2.2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "mathjax@$version" >/dev/null && tar -xzf mathjax-$version.tgz)
rm -rf "$dest"
mkdir -p "$dest"
cp -r "$tmp/package/es5/." "$dest/"
test -f "$dest/tex-mml-chtml.js"
echo "MathJax $version -> $dest"
