internal import CMPI
import MetaOpt

/// The one place where an MPI return code becomes a Swift error.
///
/// MPI_COMM_WORLD uses MPI_ERRORS_RETURN (see `MPIRuntime.initialize`), so a failing call returns
/// its error code instead of aborting the job; this turns it into a thrown `CommunicatorError`
/// whose `function` names the MPI call and whose `message` is `MPI_Error_string`'s text.
@inline(__always)
func mpiCheck(_ code: Int32, _ function: StaticString) throws {
    if code != metaopt_mpi_success() {
        throw CommunicatorError(function: "\(function)", message: mpiErrorString(code))
    }
}

/// `MPI_Error_string` of `code`, or a generic text where MPI has none.
func mpiErrorString(_ code: Int32) -> String {
    let capacity = Int(metaopt_mpi_max_error_string()) + 1
    var chars = [CChar](repeating: 0, count: capacity)
    var length: Int32 = 0
    let rc = chars.withUnsafeMutableBufferPointer { MPI_Error_string(code, $0.baseAddress, &length) }
    guard rc == metaopt_mpi_success(), length > 0 else { return "MPI error code \(code)" }
    let bytes = chars.prefix(Int(length)).map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
