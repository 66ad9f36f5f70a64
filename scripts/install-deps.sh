#!/usr/bin/env bash
# Install every Debian package prefsim's build, demo, tests and benchmarks need.
# Idempotent: packages already present are skipped; nothing is downloaded outside apt.
#   install-deps.sh          build, tests, demo and the BT benchmarks
#   install-deps.sh --bench  also BENCH_PKGS (the PyTorch peer of the DPO benchmark,
#                            ~1 GB; only bench/run.sh asks for it, so `make test` on a
#                            fresh machine never pulls torch)
set -euo pipefail

PKGS=(
  build-essential pkg-config time bc
  libgsl-dev libopenblas-dev libhdf5-dev hdf5-tools zlib1g-dev
  librandom123-dev libinih-dev libcmocka-dev
  gnuplot-nox
  libopenmpi-dev openmpi-bin
  liblinear-dev liblinear-tools liblbfgs-dev
  libglpk-dev
  python3 python3-numpy python3-sklearn python3-h5py python3-xarray
  python3-pandas python3-h5netcdf python3-netcdf4 python3-pip python3-setuptools
  r-base-core r-cran-bradleyterry2 r-cran-survival r-cran-psychotools r-cran-ordinal r-cran-ncdf4
)

BENCH_PKGS=(
  python3-torch
)
if [ "${1:-}" = "--bench" ]; then PKGS+=("${BENCH_PKGS[@]}"); fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
