#!/usr/bin/env bash
# Regenerates the protobuf-c code in Sources/CWire and the job codec's scalar fields
# (Sources/Wire/WireCodec+Fields.swift, by generate_swift.py) from Protocols/calibrate.proto.
#
#   Protocols/generate.sh           write Sources/CWire/calibrate.pb-c.c, include/calibrate.pb-c.h, Sources/Wire/WireCodec+Fields.swift
#   Protocols/generate.sh --check   regenerate into a temporary folder and fail (status 1, with a diff)
#                                   when the checked-in files differ; .ci/run calls this
#
# Needs protoc-c from protobuf-c-compiler (deploy/setup.sh installs it). The output depends on the
# compiler's version; the checked-in files were made with the version named below, and --check
# refuses to compare against another one rather than report a spurious difference.
set -euo pipefail
cd "$(dirname "$0")/.."

expected_version="protobuf-c 1.4.1"
command -v protoc-c >/dev/null || { echo "generate.sh: protoc-c not found; run deploy/setup.sh (protobuf-c-compiler)" >&2; exit 2; }
# The first line, without a pipe into head: under pipefail, head exiting before protoc-c has
# written its second line kills protoc-c with SIGPIPE and this script with status 141.
found_version="$(protoc-c --version 2>&1)"
found_version="${found_version%%$'\n'*}"
if [ "$found_version" != "$expected_version" ]; then
  echo "generate.sh: protoc-c is '$found_version'; the checked-in code was generated with '$expected_version'" >&2
  [ "${1:-}" = "--check" ] && exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Relative paths keep the generated comments free of machine-specific folders.
(cd Protocols && protoc-c --c_out="$work" calibrate.proto)
# The scalar fields of the job codec (the messages marked `// swift: <Type>`).
python3 Protocols/generate_swift.py Protocols/calibrate.proto "$work/WireCodec+Fields.swift"

if [ "${1:-}" = "--check" ]; then
  status=0
  diff -u Sources/CWire/calibrate.pb-c.c "$work/calibrate.pb-c.c" || status=1
  diff -u Sources/CWire/include/calibrate.pb-c.h "$work/calibrate.pb-c.h" || status=1
  diff -u "Sources/Wire/WireCodec+Fields.swift" "$work/WireCodec+Fields.swift" || status=1
  if [ $status -ne 0 ]; then
    echo "generate.sh --check: Sources/CWire or Sources/Wire/WireCodec+Fields.swift differs from Protocols/calibrate.proto; run Protocols/generate.sh and commit" >&2
    exit 1
  fi
  echo "generate.sh --check: Sources/CWire and Sources/Wire/WireCodec+Fields.swift match Protocols/calibrate.proto"
else
  mkdir -p Sources/CWire/include
  cp "$work/calibrate.pb-c.c" Sources/CWire/calibrate.pb-c.c
  cp "$work/calibrate.pb-c.h" Sources/CWire/include/calibrate.pb-c.h
  cp "$work/WireCodec+Fields.swift" "Sources/Wire/WireCodec+Fields.swift"
  echo "generate.sh: wrote Sources/CWire/calibrate.pb-c.c, Sources/CWire/include/calibrate.pb-c.h and Sources/Wire/WireCodec+Fields.swift"
fi
