#!/usr/bin/env bash
# Runs the C examples against the stand-in server on loopback and shows what
# they fetched. Usage: scripts/demo.sh SERVER_BINARY EXAMPLES_DIR
set -euo pipefail
server_bin=$1
examples=$2
session=0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80   # the stand-in server's --demo session

work=$(mktemp -d)
# --sync-polls 3: like the real service right after a session ends, each
# session answers an empty archive to its first 3 requests.
coproc SERVER { exec "$server_bin" --demo --sync-polls 3 --exit-on-stdin-eof; }
trap 'kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$work"' EXIT
read -r _ base_url <&"${SERVER[0]}"
export BROWSERBASE_BASE_URL=$base_url BROWSERBASE_API_KEY=bb_test_key

echo "== stand-in Browserbase server at $base_url (files still syncing for 3 polls)"
echo
echo "== $examples/wait_and_extract $session files 20000"
"$examples/wait_and_extract" "$session" "$work/files" 20000
echo
echo "== $examples/download $session downloads.zip"
(cd "$work" && "$examples/download" "$session" downloads.zip)
echo
echo "== what the archive holds"
python3 -m zipfile -l "$work/downloads.zip"
