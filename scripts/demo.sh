#!/usr/bin/env bash
# Runs the C `download` example against the stand-in server on loopback and
# shows what it fetched. Usage: scripts/demo.sh SERVER_BINARY EXAMPLES_DIR
set -euo pipefail
server_bin=$1
examples=$2
session=0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80   # the stand-in server's --demo session

work=$(mktemp -d)
coproc SERVER { exec "$server_bin" --demo --exit-on-stdin-eof; }
trap 'kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$work"' EXIT
read -r _ base_url <&"${SERVER[0]}"

echo "== stand-in Browserbase server at $base_url"
echo "== $examples/download $session $work/downloads.zip"
BROWSERBASE_BASE_URL=$base_url BROWSERBASE_API_KEY=bb_test_key \
    "$examples/download" "$session" "$work/downloads.zip"
echo "== what the archive holds"
python3 -m zipfile -l "$work/downloads.zip"
