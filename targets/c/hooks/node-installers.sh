#!/bin/sh
# Installer hook for scomo-native-agent that runs the Node device's reference installers
# (node-installers.ts) — for tests and demos on a desktop; firmware provides its own hook.
# Usage: scomo-native-agent ... --installer-hook targets/c/hooks/node-installers.sh
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root" || exit 70
exec node --import=tsx targets/c/hooks/node-installers.ts "$@"
