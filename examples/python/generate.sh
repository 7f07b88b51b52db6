#!/usr/bin/env bash
# Generates the Python stubs of seam.v1 from proto/ into ./gen (not checked in).
#   pip install grpcio grpcio-tools grpcio-status   (versions: ../../requirements-dev.txt)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
proto="$here/../../proto"
python="${PYTHON:-python3}"
rm -rf "$here/gen"
mkdir -p "$here/gen"
"$python" -m grpc_tools.protoc -I "$proto" --python_out="$here/gen" --grpc_python_out="$here/gen" \
  "$proto"/seam/v1/*.proto
# Regular packages, not namespace ones: an installed package named `seam` (Seam's
# own SDK) would otherwise shadow the generated `seam.v1`.
touch "$here/gen/seam/__init__.py" "$here/gen/seam/v1/__init__.py"
