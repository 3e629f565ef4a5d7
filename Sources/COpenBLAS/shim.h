// OpenBLAS (cblas) and LAPACKE, as Debian's libopenblas-dev and liblapacke-dev install them.
#ifndef CALIBRATE_COPENBLAS_SHIM_H
#define CALIBRATE_COPENBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
