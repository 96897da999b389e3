#!/usr/bin/env bash
# Installs the Debian packages the build, tests and data fetch need, only when missing.
# Checks with pkg-config (and command -v for tools) first, so it is a no-op on a ready machine.
set -euo pipefail
need_pkgs=()
pc() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1"; }
pc hdf5     || need_pkgs+=(libhdf5-dev)
pc openblas || need_pkgs+=(libopenblas-dev)
pc cmocka   || need_pkgs+=(libcmocka-dev)
pc zlib     || need_pkgs+=(zlib1g-dev)
pc libpng   || need_pkgs+=(libpng-dev)
pc inih     || need_pkgs+=(libinih-dev)
pc ompi-c   || need_pkgs+=(libopenmpi-dev)   # refine-pipeline-mpi (mpirun -np P ...)
command -v mpirun >/dev/null 2>&1 || need_pkgs+=(openmpi-bin)
command -v pkg-config >/dev/null 2>&1 || need_pkgs+=(pkg-config)
command -v cc >/dev/null 2>&1 || need_pkgs+=(gcc)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
if [ "${1:-}" = "--data" ]; then
  command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
  command -v tar >/dev/null 2>&1 || need_pkgs+=(tar)
fi
[ ${#need_pkgs[@]} -eq 0 ] && exit 0
echo "deps: installing ${need_pkgs[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing packages (${need_pkgs[*]}) and not root; install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null
