#!/usr/bin/env bash
# Set up Anime4KCPP (pyanime4k 2.2.x, the last release with the classic "Anime4K09" processor) for
# experiments/anime4k_vs_cpp.py, outside the project's own environment:
#   - Debian's ocl-icd-libopencl1 (libOpenCL.so.1: the wheel's libac.so links it even for the CPU processor)
#   - a separate venv (default runs/venv_pyanime4k, ignored by git) holding pyanime4k and numpy.
# The project's .venv and dependencies are left untouched.
#
#   bash experiments/anime4k_vs_cpp_setup.sh            # or VENV=/tmp/pa4k bash experiments/anime4k_vs_cpp_setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-runs/venv_pyanime4k}"
PYTHON="${PYTHON:-python3}"

if ! ldconfig -p | grep -q 'libOpenCL\.so\.1'; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ocl-icd-libopencl1
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q "pyanime4k>=2.2,<2.3" numpy pillow

# The wheel's libac.so also links GTK2 (OpenCV highgui); report what is still missing instead of failing later.
LIB="$("$VENV/bin/python" -c 'import importlib.util, pathlib; s = importlib.util.find_spec("pyanime4k"); print(pathlib.Path(s.origin).parent / "wrapper" / "libac.so")')"
MISSING="$(ldd "$LIB" | grep 'not found' || true)"
if [ -n "$MISSING" ]; then
  echo "libac.so still lacks shared libraries (install the Debian packages that provide them):" >&2
  echo "$MISSING" >&2
  exit 1
fi
"$VENV/bin/python" -c 'from pyanime4k import ac; v = ac.AC.get_version(); print(f"pyanime4k {v.pyanime4k}, Anime4KCPP core {v.core}, C wrapper {v.wrapper}")'
echo "ready: $VENV/bin/python (pass --cpp-python $VENV/bin/python to experiments/anime4k_vs_cpp.py)"
