#!/usr/bin/env bash
# clang-format over every C/C++ source of the project (.clang-format at the root).
#   bash tools/format.sh          rewrite the files in place
#   bash tools/format.sh --check  change nothing; exit 1 and name the files that differ
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find proxy capture store conf tools tests \( -name '*.cpp' -o -name '*.h' -o -name '*.c' \) | sort)
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run --Werror "${files[@]}" || { echo "format: run 'bash tools/format.sh' and commit"; exit 1; }
else
  clang-format -i "${files[@]}"
fi
