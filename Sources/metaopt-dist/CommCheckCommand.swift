import ArgumentParser
import Foundation
import Logging
import MetaOpt
import MetaOptMPI

/// Hidden self-test of the communicator, used by the multi-rank tests and handy on a new cluster.
///
/// Runs allreduce sum/max/min on Float, Double and Int64 buffers filled with rank-dependent
/// values, broadcasts a buffer from rank 0 and from the last rank, broadcasts a `Codable` value,
/// gathers uneven Float buffers, splits the ranks into even and odd ones and sums over each, and
/// passes a barrier; each rank checks every result against its closed form and prints one line
///
///     COMMCHECK rank=R size=S ok=1 host=H launcher=L count=N max-count=M failed=none
///
/// Then the failure counts are summed over all ranks; any failure ends the job with status 1.
struct CommCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comm-check",
        abstract: "Check the MPI communicator's collectives on every rank (for tests).",
        shouldDisplay: false)

    enum FailMode: String, ExpressibleByArgument, CaseIterable {
        /// Throw an error (the normal error path: message, then MPI_Abort).
        case `throw`
        /// `exit(3)` without MPI_Abort or MPI_Finalize, as a process that dies on its own.
        case exit
        /// A Swift runtime trap (the process dies of a signal).
        case crash
        /// Stop calling collectives and sleep, so the other ranks wait forever (see --hang-check).
        case hang
    }

    @OptionGroup var runOptions: RunOptions

    @Option(help: "Elements per test buffer.")
    var count = 1000

    @Option(help: "Largest element count per MPI call (lower it to exercise the splitting of large buffers).")
    var maxCount: Int?

    @Option(help: "This rank fails right after the first collective (to check that the whole job ends).")
    var failOnRank: Int?

    @Option(help: "How --fail-on-rank fails: throw, exit, crash or hang.")
    var failMode: FailMode = .throw

    @Option(help: ArgumentHelp("Watchdog: a rank still running after this many seconds reports a hang and exits with status 2.",
                               valueName: "seconds"))
    var hangCheck: Double?

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1, got \(count)") }
        // Buffers of at most 1 GiB, as allreduce-bench's (8 bytes a value).
        if let problem = SizeLimits.problem("--count", count, limit: AllreduceBenchCommand.mostValues) { throw ValidationError(problem) }
        if let maxCount, !(1...Int(Int32.max)).contains(maxCount) {
            throw ValidationError("--max-count must be in 1...\(Int32.max), got \(maxCount)")
        }
        if let failOnRank, failOnRank < 0 {
            throw ValidationError("--fail-on-rank must be a rank (>= 0), got \(failOnRank)")
        }
        if let hangCheck, !(hangCheck > 0) {
            throw ValidationError("--hang-check must be a positive number of seconds, got \(hangCheck)")
        }
    }

    func run() throws {
        if let hangCheck { startWatchdog(seconds: hangCheck) }
        withCommunicator(runOptions) { comm in
            // Every rank decides the same, so all end together (it used to pass, failing nowhere).
            if let failOnRank, failOnRank >= comm.size {
                Console.error("metaopt-dist: rank \(comm.rank): --fail-on-rank \(failOnRank) names no rank of this job (0…\(comm.size - 1))\n")
                try? MPIRuntime.finalize()
                Foundation.exit(64)
            }
            if let maxCount { comm.maxElementsPerCall = maxCount }
            try check(comm)
        }
    }

    private func startWatchdog(seconds: Double) {
        let thread = Thread {
            Thread.sleep(forTimeInterval: seconds)
            let rank = LaunchEnvironment.atLaunch.rank.map(String.init) ?? "0"
            Console.error("metaopt-dist: rank \(rank): comm-check still running after \(seconds) s (hang)\n")
            _exit(2)
        }
        thread.start()
    }

    private func check(_ comm: MPICommunicator) throws {
        let log = Logger(label: "comm-check")
        let r = comm.rank, s = comm.size, n = count
        var failed: [String] = []
        func expect(_ name: String, _ ok: Bool) {
            if !ok {
                failed.append(name)
                log.error("check failed", metadata: ["check": "\(name)"])
            }
        }

        // Float: sums of small integers are exact in Float up to 2^24.
        var fsum = (0..<n).map { Float((r + 1) * ($0 % 13 + 1)) }
        try comm.allreduce(&fsum, .sum)
        expect("float-sum", fsum.indices.allSatisfy { fsum[$0] == Float(s * (s + 1) / 2 * ($0 % 13 + 1)) })

        if failOnRank == r {
            log.warning("failing on purpose", metadata: ["mode": "\(failMode.rawValue)"])
            switch failMode {
            case .throw: throw CommunicatorError(function: "comm-check", message: "failing on purpose on rank \(r) (--fail-on-rank)")
            case .exit:
                Console.error("metaopt-dist: rank \(r): exiting on purpose (--fail-on-rank)\n")
                Foundation.exit(3)
            case .crash: fatalError("crashing on purpose on rank \(r) (--fail-on-rank)")
            case .hang:
                while true { Thread.sleep(forTimeInterval: 3600) }
            }
        }

        var fmax = (0..<n).map { Float(r * ($0 % 5 + 1)) }
        try comm.allreduce(&fmax, .max)
        expect("float-max", fmax.indices.allSatisfy { fmax[$0] == Float((s - 1) * ($0 % 5 + 1)) })
        var fmin = (0..<n).map { Float(-r + $0 % 3) }
        try comm.allreduce(&fmin, .min)
        expect("float-min", fmin.indices.allSatisfy { fmin[$0] == Float(-(s - 1) + $0 % 3) })

        // Double.
        var dsum = (0..<n).map { Double(r) + 0.5 * Double($0) }
        try comm.allreduce(&dsum, .sum)
        expect("double-sum", dsum.indices.allSatisfy { dsum[$0] == Double(s * (s - 1) / 2) + 0.5 * Double($0) * Double(s) })
        var dmax = (0..<n).map { Double(r) * 1.25 - Double($0) }
        try comm.allreduce(&dmax, .max)
        expect("double-max", dmax.indices.allSatisfy { dmax[$0] == Double(s - 1) * 1.25 - Double($0) })
        var dmin = (0..<n).map { -Double(r) / 4 + Double($0) }
        try comm.allreduce(&dmin, .min)
        expect("double-min", dmin.indices.allSatisfy { dmin[$0] == -Double(s - 1) / 4 + Double($0) })

        // Int64: values beyond 32 bits.
        var isum = (0..<n).map { Int64(r) << 33 + Int64($0) }
        try comm.allreduce(&isum, .sum)
        expect("int64-sum", isum.indices.allSatisfy { isum[$0] == Int64(s * (s - 1) / 2) << 33 + Int64(s) * Int64($0) })
        var imax = (0..<n).map { Int64(r) * 1_000_000_007 - Int64($0) }
        try comm.allreduce(&imax, .max)
        expect("int64-max", imax.indices.allSatisfy { imax[$0] == Int64(s - 1) * 1_000_000_007 - Int64($0) })
        var imin = (0..<n).map { -(Int64(r) << 40) + Int64($0) }
        try comm.allreduce(&imin, .min)
        expect("int64-min", imin.indices.allSatisfy { imin[$0] == -(Int64(s - 1) << 40) + Int64($0) })

        // Broadcast of a buffer, from the first and from the last rank.
        for root in Set([0, s - 1]).sorted() {
            let pattern = (0..<n).map { Double($0) * 0.25 + Double(root) }
            var buffer = r == root ? pattern : [Double](repeating: -1, count: n)
            try comm.broadcast(&buffer, root: root)
            expect("broadcast-root\(root)", buffer == pattern)
        }

        // Broadcast of a Codable value.
        let payload = Payload(name: "comm-check ✓", size: s, values: (0..<min(n, 50)).map { Double($0) / 3 },
                              tags: ["root": 0, "size": s])
        let sent = r == 0 ? payload : Payload(name: "", size: -1, values: [], tags: [:])
        let received = try comm.broadcast(value: sent, root: 0)
        expect("broadcast-codable", received == payload)

        // Allgather with uneven counts (rank r sends r + 1 values; one rank sends none when s > 2).
        let counts = (0..<s).map { s > 2 && $0 == 1 ? 0 : $0 + 1 }
        let mine = (0..<counts[r]).map { Float(r * 1000 + $0) }
        var gathered = [Float](repeating: -1, count: counts.reduce(0, +))
        try mine.withUnsafeBufferPointer { send in
            try gathered.withUnsafeMutableBufferPointer { try comm.allgather(send, into: $0, counts: counts) }
        }
        expect("allgather", gathered == (0..<s).flatMap { q in (0..<counts[q]).map { Float(q * 1000 + $0) } })

        // Split into the even and the odd ranks, ordered backwards; a sum over each part.
        let part = try comm.split(color: r % 2, key: -r)
        let partSize = (s - r % 2 + 1) / 2
        var partSum: [Int64] = [Int64(r)]
        try part.allreduce(&partSum, .sum)
        expect("split", part.size == partSize && part.rank == partSize - 1 - r / 2
               && partSum[0] == Int64(stride(from: r % 2, to: s, by: 2).reduce(0, +)))

        try comm.barrier()

        print("COMMCHECK rank=\(r) size=\(s) ok=\(failed.isEmpty ? 1 : 0) host=\(comm.processorName)"
              + " launcher=\(LaunchEnvironment.atLaunch.launcher?.rawValue ?? "singleton")"
              + " count=\(n) max-count=\(comm.maxElementsPerCall)"
              + " failed=\(failed.isEmpty ? "none" : failed.joined(separator: ","))")
        fflush(nil)

        var failures: [Int64] = [Int64(failed.count)]
        try comm.allreduce(&failures, .sum)
        if failures[0] > 0 {
            throw CommunicatorError(function: "comm-check", message: "\(failures[0]) check(s) failed across \(s) rank(s)")
        }
        log.info("comm-check passed", metadata: ["size": "\(s)"])
    }

    private struct Payload: Codable, Equatable {
        var name: String
        var size: Int
        var values: [Double]
        var tags: [String: Int]
    }
}
