import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The process's memory figures from /proc/self/status (Linux; nil elsewhere).
package enum ProcessMemory {
    /// Peak resident set size (VmHWM) in bytes.
    package static var peakResidentBytes: Int? { field("VmHWM:") }

    /// The bytes this process may still map under its address-space and data-segment limits
    /// (`ulimit -v` and `ulimit -d`, which Slurm passes on from the submitting shell, and PBS's
    /// and SGE's h_vmem set): the limit less what is mapped now (the libraries, MPI's shared
    /// memory) and `mappingReserve`. Nil without either limit. Past them an allocation fails,
    /// and a Swift allocation that fails ends the process with a trap instead of a message.
    package static var addressSpaceRoom: Int? {
        #if canImport(Glibc)
        var rooms: [Int] = []
        for (resource, mapped) in [(RLIMIT_AS, "VmSize:"), (RLIMIT_DATA, "VmData:")] {
            var limit = rlimit()
            guard getrlimit(__rlimit_resource_t(resource.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max,  // RLIM_INFINITY
                  let used = field(mapped) else { continue }
            rooms.append(max(0, Int(clamping: limit.rlim_cur) - used - mappingReserve))
        }
        return rooms.min()
        #else
        return nil
        #endif
    }

    /// What a run maps besides the memory its estimate counts, beyond what is mapped when the
    /// limit is checked: threads' stacks, and OpenBLAS's buffer, which its first product maps
    /// (135,266,304 bytes; the image tasks' products run on it). With 64 MiB here, MLP runs that
    /// the check let through under `ulimit -v` 700000–760000 KiB died in an allocation; the
    /// default quadratic run maps 304 MiB at start and 441 MiB at its peak, of which 51 MiB more
    /// resident memory (VmSize and VmRSS of /proc/PID/status, Zen 4, 2026-12-06).
    static let mappingReserve = 192 << 20

    static func field(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }
}
