// Thin shim over Open MPI. Not API: only MetaOptMPI imports it.
// MPI handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are C macros that Swift cannot import,
// so they are exposed as prefixed static inline functions.
#ifndef METAOPT_CMPI_SHIM_H
#define METAOPT_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm metaopt_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype metaopt_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype metaopt_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype metaopt_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype metaopt_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op metaopt_mpi_op_sum(void) { return MPI_SUM; }
static inline MPI_Op metaopt_mpi_op_max(void) { return MPI_MAX; }
static inline MPI_Op metaopt_mpi_op_min(void) { return MPI_MIN; }
static inline void *metaopt_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler metaopt_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int metaopt_mpi_success(void) { return MPI_SUCCESS; }
static inline int metaopt_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
#endif
