import Foundation

/// The memory limit of this process's control group: Slurm's `--mem`, `docker run --memory`,
/// systemd's `MemoryMax`. A process past it is killed by the kernel, so the default of
/// `--max-memory` (the machine's memory) must not exceed it.
package enum CgroupMemory {
    /// The memory this process may use: the machine's, or its cgroup's limit where that is less.
    package static var usable: UInt64 { min(ProcessInfo.processInfo.physicalMemory, limit() ?? .max) }

    /// The smallest memory limit on the way from the process's cgroup up to the root, in bytes;
    /// nil where none is set or the files cannot be read. cgroup v2 (the "0::PATH" line,
    /// `memory.max`) and v1 (the memory controller's line, `memory.limit_in_bytes`, whose
    /// "no limit" is a huge number that the machine's memory undercuts anyway).
    package static func limit(cgroupFile: String = "/proc/self/cgroup", root: String = "/sys/fs/cgroup") -> UInt64? {
        guard let text = try? String(contentsOfFile: cgroupFile, encoding: .utf8) else { return nil }
        var limits: [UInt64] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].split(separator: ",")
            let (base, file): (String, String)
            if fields[0] == "0" && fields[1].isEmpty {
                (base, file) = (root, "memory.max")
            } else if controllers.contains("memory") {
                (base, file) = (root + "/memory", "memory.limit_in_bytes")
            } else {
                continue
            }
            // The cgroup and each of its ancestors: a parent's limit binds the child too.
            var path = String(fields[2])
            while true {
                let directory = path == "/" || path.isEmpty ? base : base + path
                if let value = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8),
                   let bytes = UInt64(value.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    limits.append(bytes)
                }
                guard path != "/" && !path.isEmpty else { break }
                path = (path as NSString).deletingLastPathComponent
            }
        }
        return limits.min()
    }
}
