#!/usr/bin/env bash
# README's test command (and .ci/run's): every test, then the timed ones alone.
#
# OpenBLAS's Haswell kernels (the pinned output digests need one kernel family) and one compute
# thread per test by default (the tests run concurrently in one process); see docs/ARCHITECTURE.md,
# "Same bytes and BLAS threads". PlanValidationTests compares `coordinator plan` with measured wall
# times, which the other suites running beside it would distort (it measured 0.40× instead of
# 0.58× once): it runs on its own afterwards, with the machine to itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE=Haswell
OPENBLAS_NUM_THREADS=1 swift test --skip PlanValidationTests "$@"
OPENBLAS_NUM_THREADS=1 swift test --skip-build --filter PlanValidationTests
