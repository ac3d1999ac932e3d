#!/usr/bin/env bash
# Installs every Debian package gsread needs to build, test, demo and benchmark.
# One list, used by the README, the demo, the benchmarks and CI (.ci/run).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config ninja-build
  libcurl4-openssl-dev libnghttp2-dev libssl-dev   # transport: curl multi, HTTP/2 (and gRPC), TLS
  libjson-c-dev                                    # GCS metadata JSON
  libprotobuf-c-dev protobuf-c-compiler            # zonal reads: gRPC messages (protoc-c)
  python3-grpcio python3-protobuf protobuf-compiler python3-crc32c  # zonal stand-in
  libisal-dev                                      # CRC32C (ISA-L)
  libcmocka-dev                                    # unit tests
  nginx-extras                                     # local GCS server (nginx + lua module)
  curl                                             # ceiling benchmark, test helpers
  tinyproxy                                        # an HTTPS proxy in front of the TLS server (test_proxy)
  python3                                          # test scripts
  clang libclang-rt-14-dev                         # sanitizers and fuzzers
  clang-format-14 black                            # the format check (scripts/check-format.sh)
  valgrind                                         # memcheck test (label valgrind)
  libfuse3-dev fuse3                               # gsread mount (fusermount3 for non-root)
  strace                                           # test_mount: read replies go by splice
  fio rclone bindfs                                # mount benchmarks: fio; rclone mount, bindfs as peers
  aria2 gnuplot-nox                                # benchmark peer (aria2c), charts
  python3-fsspec python3-aiohttp python3-requests  # benchmark peer (fsspec HTTPFileSystem)
  # The Python package (python/, docs/python.md): its C extension and its
  # tests with the libraries it serves: pandas, xarray/Zarr, h5py, Dask.
  python3-dev python3-pytest python3-numpy python3-pandas
  python3-dask python3-distributed python3-zarr python3-xarray python3-h5py
  python3-venv python3-setuptools python3-pip       # pip install ./python into a venv
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# nginx-extras enables and may start a system nginx; the tests run their own.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; fi
$SUDO service nginx stop >/dev/null 2>&1 || true
# tinyproxy's package may start a system proxy too; test_proxy starts its own.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now tinyproxy >/dev/null 2>&1 || true; fi
$SUDO service tinyproxy stop >/dev/null 2>&1 || true
