#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Adds the SPDX license header to the repository's source files that lack it:
#   *.go                      "// SPDX-License-Identifier: Apache-2.0" as the first line
#   *.sh, scripts/*, .ci/run  "# SPDX-License-Identifier: Apache-2.0" after the #! line
#   *.proto                   "// SPDX-License-Identifier: Apache-2.0" as the first line
# Generated code (gen/, *.pb.go) is left alone: `make proto` would drop it.
#
#   scripts/spdx.sh            add the header where it is missing
#   scripts/spdx.sh --check    list the files without it; exit 1 if any
set -euo pipefail
cd "$(dirname "$0")/.."
check=no
[ "${1:-}" = --check ] && check=yes
tag='SPDX-License-Identifier: Apache-2.0'
missing=0
while IFS= read -r f; do
  case "$f" in gen/*|*.pb.go|.tools/*) continue ;; esac
  head -n 3 "$f" | grep -q "$tag" && continue
  missing=$((missing + 1))
  if [ "$check" = yes ]; then
    echo "$f"
    continue
  fi
  tmp=$(mktemp)
  case "$f" in
    *.go|*.proto) { echo "// $tag"; echo; cat "$f"; } >"$tmp" ;;
    *)
      if head -n 1 "$f" | grep -q '^#!'; then
        { head -n 1 "$f"; echo "# $tag"; tail -n +2 "$f"; } >"$tmp"
      else
        { echo "# $tag"; cat "$f"; } >"$tmp"
      fi ;;
  esac
  cat "$tmp" >"$f" # keeps the file's mode
  rm -f "$tmp"
done < <(git ls-files '*.go' '*.proto' '*.sh' 'scripts/*' '.ci/run')
if [ "$check" = yes ] && [ "$missing" -gt 0 ]; then
  echo "spdx: $missing files without the SPDX header (scripts/spdx.sh adds it)" >&2
  exit 1
fi
[ "$check" = yes ] || echo "spdx: header added to $missing files" >&2
