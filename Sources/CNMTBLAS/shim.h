// The BLAS/LAPACK surface swift-nmt uses.
//
// Linux: the standard CBLAS interface of Debian's `libblas.so.3` (an update-alternatives
// link that OpenBLAS takes over when `libopenblas-dev` is installed) and netlib's LAPACKE.
// macOS: Accelerate, which has CBLAS but no LAPACKE; Swift code calls the Fortran-style
// LAPACK symbols there instead (see NMTTensor's Linalg.swift).
// Linking is declared in Package.swift so that it can differ per platform.
#ifndef CNMTBLAS_SHIM_H
#define CNMTBLAS_SHIM_H

#if defined(__APPLE__)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#include <lapacke.h>
#endif

#endif
