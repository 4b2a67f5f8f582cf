import Foundation

/// The instruction-set extensions this build of MetaOpt uses (see Package.swift), and a check that
/// the machine has them, so a mismatch ends with a message instead of an illegal-instruction crash.
public enum VectorISA {
    /// What the MetaOpt target was compiled for.
    public static var name: String {
        #if METAOPT_AVX512
        return "AVX-512 (znver4)"
        #elseif arch(x86_64)
        return "AVX2+FMA (x86-64-v3)"
        #else
        return "generic"
        #endif
    }

    /// /proc/cpuinfo flag names the build needs.
    public static var requiredFlags: [String] {
        #if METAOPT_AVX512
        return ["avx2", "fma", "bmi2", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512cd"]
        #elseif arch(x86_64)
        return ["avx2", "fma", "bmi2"]
        #else
        return []
        #endif
    }

    /// The required flags this machine lacks; empty when it has them all or when /proc/cpuinfo
    /// cannot be read (then nothing is known, and nothing is claimed).
    public static let missingFlags: [String] = {
        guard !requiredFlags.isEmpty,
              let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        let flags = Set(line.split(separator: " ").map(String.init))
        return requiredFlags.filter { !flags.contains($0) }
    }()

    /// Ends the process with a message if the machine lacks an extension this build uses. Call it
    /// first thing in a program (before any MetaOpt code has run).
    public static func require() {
        guard !missingFlags.isEmpty else { return }
        FileHandle.standardError.write(Data("""
            metaopt-dist: this build of MetaOpt uses \(name), but this CPU lacks \(missingFlags.joined(separator: ", ")). \
            Rebuild with METAOPT_ISA=avx2 swift build (AVX2 + FMA), see docs/performance.md.\n
            """.utf8))
        exit(70)
    }
}
