#!/usr/bin/env bash
# Installs what attnjit needs to build and test on Debian 12: a C++20 compiler, CMake,
# fmt, nlohmann-json and Catch2 from Debian's packages. NVRTC (the CUDA toolkit) is
# used when present and opened at run time; it is not installed here.
set -euo pipefail
packages=(g++ cmake make libfmt-dev nlohmann-json3-dev catch2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
