#!/usr/bin/env bash
# Installs what inboxtrail needs on a fresh Debian machine and is a no-op when all is there:
# Debian packages (apt-get update first), a virtualenv in .venv with the package and its test
# extras. Kafka's jars are resolved by `inboxtrail up` through Maven.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(clickhouse-server clickhouse-client prometheus chromium)
PYTHON=${PYTHON:-python3}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 2; }
    SUDO=sudo
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "setup: \`$tool\` is missing; install Java 17 and Maven (apt-get install -y openjdk-17-jre-headless maven)" >&2; exit 2; }
done

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating virtualenv .venv"
  "$PYTHON" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch .venv/.installed
fi
