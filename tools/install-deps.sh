#!/usr/bin/env bash
# Installs what attnjit needs to build, test and compile kernels on Debian 12:
#   - a C++20 compiler, CMake, fmt, nlohmann-json and Catch2 from Debian's packages;
#   - the AMD compilers, from Debian's packages (no AMD GPU needed): ROCm 5.2's HIP
#     (libamdhip64-dev, which pulls in comgr, the device libraries and the HSA runtime;
#     its hiprtc builds gfx90a), and clang-19 with lld-19 (builds gfx942, which ROCm
#     5.2's comgr does not know) and llvm-19 (llvm-readelf-19, llvm-objdump-19: the
#     AMD tests read the code objects with them);
#   - NVRTC, when the system has none: the CUDA 13.0 NVRTC from PyPI (package
#     nvidia-cuda-nvrtc, pinned with hashes in tools/requirements-nvrtc.txt), installed
#     with `pip install --target` into $XDG_DATA_HOME/attnjit/nvrtc (else
#     ~/.local/share/attnjit/nvrtc), where attnjit's NVRTC loader looks after the
#     system's library path and /usr/local/cuda/lib64. Nothing outside that directory
#     is written for it (no ld.so.conf, no environment variables to set).
# A system NVRTC counts when $ATTNJIT_NVRTC_PATH is set, or libnvrtc.so.13 / .so.12 is
# on $LD_LIBRARY_PATH, in the ld.so cache or in /usr/local/cuda/lib64.
#
# usage: tools/install-deps.sh [--pip-nvrtc | --print-pip-prefix]
#   --pip-nvrtc          install the PyPI NVRTC even when the system has one (CI does,
#                        so the test that compiles with that copy runs there too)
#   --print-pip-prefix   print where the PyPI NVRTC goes (or went) and exit
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
requirements="$here/requirements-nvrtc.txt"

# The same rule as nvrtc_pip_prefix() in compiler/backend/nvrtc_compiler.cpp.
pip_prefix() {
  case "${XDG_DATA_HOME:-}" in
    /*) echo "$XDG_DATA_HOME/attnjit/nvrtc" ;;
    *) echo "$HOME/.local/share/attnjit/nvrtc" ;;
  esac
}

force_pip=0
for arg in "$@"; do
  case "$arg" in
    --pip-nvrtc) force_pip=1 ;;
    --print-pip-prefix) pip_prefix; exit 0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

# The first libnvrtc the loader would find on the system, or nothing.
system_nvrtc() {
  if [ -n "${ATTNJIT_NVRTC_PATH:-}" ]; then
    echo "$ATTNJIT_NVRTC_PATH"
    return
  fi
  local dir so ldconfig_bin
  local -a dirs=()
  IFS=: read -r -a dirs <<<"${LD_LIBRARY_PATH:-}"
  for dir in "${dirs[@]}" /usr/local/cuda/lib64; do
    for so in libnvrtc.so.13 libnvrtc.so.12; do
      if [ -n "$dir" ] && [ -e "$dir/$so" ]; then
        echo "$dir/$so"
        return
      fi
    done
  done
  # ldconfig lives in /sbin, which is not on every user's PATH. Its cache can name
  # files removed since it was built, so each path is checked.
  ldconfig_bin=$(command -v ldconfig || echo /sbin/ldconfig)
  while read -r so; do
    if [ -e "$so" ]; then
      echo "$so"
      return
    fi
  done < <("$ldconfig_bin" -p 2>/dev/null | awk '/libnvrtc\.so\.1[23] /{ print $NF }')
}

found_nvrtc=$(system_nvrtc)
want_pip=0
if [ "$force_pip" -eq 1 ] || [ -z "$found_nvrtc" ]; then want_pip=1; fi

packages=(g++ cmake make libfmt-dev nlohmann-json3-dev catch2)
# Installed without their recommends: clang-19's (llvm-19-dev, the clang tools) are
# large and nothing here uses them.
amd_packages=(libamdhip64-dev clang-19 lld-19 llvm-19)
# The fuzz suite (ctest test `fuzz`) is a Python 3 script.
command -v python3 >/dev/null 2>&1 || packages+=(python3)
if [ "$want_pip" -eq 1 ] && ! python3 -m pip --version >/dev/null 2>&1; then
  packages+=(python3 python3-pip)
fi
# The packages of the list named $1 that are not installed, one a line.
not_installed() {
  local -n list=$1
  local p
  for p in "${list[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing < <(not_installed packages)
mapfile -t missing_amd < <(not_installed amd_packages)
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_amd[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
  fi
  if [ ${#missing_amd[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
      "${missing_amd[@]}" >/dev/null
  fi
fi

if [ "$want_pip" -eq 0 ]; then
  echo "install-deps.sh: NVRTC found at $found_nvrtc"
  exit 0
fi

prefix=$(pip_prefix)
version=$(sed -n 's/^nvidia-cuda-nvrtc==\([0-9.]*\).*/\1/p' "$requirements")
if [ -d "$prefix/nvidia_cuda_nvrtc-$version.dist-info" ] &&
   [ -f "$prefix/nvidia/cu13/lib/libnvrtc.so.13" ]; then
  echo "install-deps.sh: NVRTC $version from PyPI already in $prefix"
  exit 0
fi

# Installed beside the final directory and moved into place, so an interrupted
# download never leaves a half-installed copy where the loader looks.
mkdir -p "$(dirname "$prefix")"
staging=$(mktemp -d "$prefix.new.XXXXXX")
trap 'rm -rf "$staging"' EXIT
echo "install-deps.sh: installing NVRTC $version from PyPI into $prefix"
# --target installs outside any Python environment, which Debian's PEP 668 guard allows.
python3 -m pip install --quiet --disable-pip-version-check --no-input --root-user-action=ignore \
  --no-deps --only-binary=:all: --require-hashes --target "$staging" -r "$requirements"
if [ ! -f "$staging/nvidia/cu13/lib/libnvrtc.so.13" ]; then
  echo "install-deps.sh: the NVRTC package has no nvidia/cu13/lib/libnvrtc.so.13" >&2
  exit 1
fi
rm -rf "$prefix"
mv "$staging" "$prefix"
trap - EXIT
echo "install-deps.sh: NVRTC installed: $prefix/nvidia/cu13/lib/libnvrtc.so.13"
