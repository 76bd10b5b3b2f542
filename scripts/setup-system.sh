#!/usr/bin/env bash
# Installs the system libraries ragdb builds against, when they are missing:
# LMDB and LZ4 (with pkg-config files), zlib, libedit (line editing in `ragdb shell`), plus
# lmdb-utils for mdb_stat. Debian/Ubuntu (apt).
set -euo pipefail

packages=(liblmdb-dev liblz4-dev zlib1g-dev libedit-dev lmdb-utils pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
