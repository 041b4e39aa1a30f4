#!/bin/bash
# The layering of runtime/ as the libraries build it: the runtime (every folder but
# reference, harness and io) includes none of those three, and the reference includes
# neither harness nor io. Usage: check_includes.sh SOURCE_DIR. Prints each offending
# include; exit status 1 when there is one.
set -u
if [ $# -ne 1 ]; then
  echo "usage: $0 SOURCE_DIR" >&2
  exit 2
fi
cd "$1/runtime" || exit 2

bad=0
# check WHAT PATTERN FILES...: reports the FILES (of library WHAT) that include a header
# of a folder matching PATTERN.
check() {
  local what=$1 pattern=$2
  shift 2
  local found
  found=$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]runtime/($pattern)/" "$@" 2>/dev/null)
  if [ -n "$found" ]; then
    echo "$what includes what it must not link:"
    echo "$found" | sed -e 's|^\./||' -e 's|^|  runtime/|'
    bad=1
  fi
}

mapfile -t runtime_files < <(find . -path ./reference -prune -o -path ./harness -prune \
  -o -path ./io -prune -o -type f \( -name '*.h' -o -name '*.cpp' \) -print)
mapfile -t reference_files < <(find reference -type f \( -name '*.h' -o -name '*.cpp' \))
if [ ${#runtime_files[@]} -eq 0 ] || [ ${#reference_files[@]} -eq 0 ]; then
  echo "no runtime or reference sources under $1/runtime" >&2
  exit 2
fi
check "attnjit_runtime" "reference|harness|io" "${runtime_files[@]}"
check "attnjit_reference" "harness|io" "${reference_files[@]}"
if [ $bad -eq 0 ]; then
  echo "ok: ${#runtime_files[@]} runtime files include no reference, harness or io header;" \
       "${#reference_files[@]} reference files no harness or io header"
fi
exit $bad
