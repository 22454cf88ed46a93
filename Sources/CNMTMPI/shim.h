// Open MPI's C API for Swift. Its handles (MPI_COMM_WORLD, MPI_FLOAT, ...) are macros over
// global objects, which Swift cannot import, so these functions return them.
#ifndef CNMTMPI_SHIM_H
#define CNMTMPI_SHIM_H

#include <mpi.h>

static inline MPI_Comm nmt_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm nmt_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype nmt_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype nmt_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype nmt_mpi_int(void) { return MPI_INT; }
static inline MPI_Errhandler nmt_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Info nmt_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Request nmt_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline void *nmt_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int nmt_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int nmt_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int nmt_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }

#endif
