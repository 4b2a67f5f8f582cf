// Thin shim over Open MPI. Not API: only MetaOptMPI imports it.
// MPI handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) and most MPI constants are C macros that
// Swift cannot import, so they are exposed as prefixed static inline functions.
#ifndef METAOPT_CMPI_SHIM_H
#define METAOPT_CMPI_SHIM_H
#include <mpi.h>

// Handles.
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

// Constants.
static inline int metaopt_mpi_success(void) { return MPI_SUCCESS; }
static inline int metaopt_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int metaopt_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int metaopt_mpi_max_library_version_string(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }
static inline int metaopt_mpi_thread_single(void) { return MPI_THREAD_SINGLE; }
static inline int metaopt_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int metaopt_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int metaopt_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }

// MPI_Init_thread without argc/argv (allowed since MPI-2; Open MPI reads its settings from the
// environment that mpirun sets up).
static inline int metaopt_mpi_init_thread(int required, int *provided) {
    return MPI_Init_thread(NULL, NULL, required, provided);
}
#endif
