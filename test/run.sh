#!/usr/bin/env bash
# Runs the whole suite and ends with the plain "N passed, N failed" line CI reads.
cd "$(dirname "$0")/.." || exit 2
tap=$(mktemp)
set -o pipefail
npx ava --tap "$@" 2>&1 | tee "$tap"
rc=$?
pass=$(awk '/^# pass /{print $3}' "$tap"); fail=$(awk '/^# fail /{print $3}' "$tap")
rm -f "$tap"
echo "${pass:-0} passed, ${fail:-0} failed"
if [ "$rc" -eq 0 ] && [ "${fail:-0}" -ne 0 ]; then rc=1; fi
if [ "$rc" -eq 0 ] && [ -z "$pass" ]; then rc=1; fi
exit $rc
