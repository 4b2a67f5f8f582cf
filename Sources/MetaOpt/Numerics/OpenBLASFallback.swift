internal import CMetaOptKernels
import Foundation

/// OpenBLAS picks its kernels when it loads, by the CPU's model number, and gives a model it does
/// not know Prescott's (SSE3: four lanes, no multiply-add). Debian 12's OpenBLAS 0.3.21 does so on
/// Intel's Emerald Rapids (cpuid family 6, model CFh), an AVX-512 CPU: the optimizees' own products
/// (the MLP's and the CNN's layers) ran there at about half the speed (the MLP's phase 8.1 against
/// 4.1 ms per meta-iteration), and their bits were Prescott's, not those of the AVX2 and AVX-512
/// cores every other machine runs (docs/design.md, "Kernel paths").
/// metaopt-dist then starts itself again with `OPENBLAS_CORETYPE` naming the core whose kernels
/// use this CPU's instructions (`metaopt_cpu_openblas_core`), before anything else runs; a core
/// named by the user is left alone, Prescott included.
package enum OpenBLASFallback {
    /// The core OpenBLAS gives a CPU model it does not know.
    static let fallbackCore = "Prescott"

    /// Set in the restarted process's environment to the core OpenBLAS had picked first, so that
    /// the process can say so (`note`); also what keeps it from restarting twice.
    package static let markerVariable = "METAOPT_OPENBLAS_FELL_BACK"

    /// The variables a restart with `core` sets: `OPENBLAS_CORETYPE`, and the marker naming the
    /// core this process's OpenBLAS chose.
    package static func restartVariables(core: String) -> [String: String] {
        ["OPENBLAS_CORETYPE": core, markerVariable: blasCoreName]
    }

    /// The core type a process should restart with: `fitting` when OpenBLAS `chose` its fallback
    /// for a CPU that runs `fitting`'s kernels and the environment names no core
    /// (`OPENBLAS_CORETYPE` unset or empty) and holds no marker of an earlier restart; else nil.
    package static func restartCore(environment: [String: String], chose: String, fitting: String?) -> String? {
        guard let fitting, chose.caseInsensitiveCompare(fallbackCore) == .orderedSame,
              (environment["OPENBLAS_CORETYPE"] ?? "").isEmpty, environment[markerVariable] == nil else { return nil }
        return fitting
    }

    /// The core whose kernels fit this CPU (`metaopt_cpu_openblas_core`): Cooperlake, Zen or
    /// Haswell; nil without AVX2.
    package static var fittingCore: String? { metaopt_cpu_openblas_core().map { String(cString: $0) } }

    /// `restartCore` for this process: OpenBLAS's choice and this CPU's core.
    package static var restartCore: String? {
        restartCore(environment: ProcessInfo.processInfo.environment, chose: blasCoreName, fitting: fittingCore)
    }

    /// What happened, for the kernels line and `bench`: nil unless this process was restarted.
    package static var note: String? {
        ProcessInfo.processInfo.environment[markerVariable].map {
            "OpenBLAS picked \($0)'s kernels for this CPU, a model it does not know; metaopt-dist set OPENBLAS_CORETYPE=\(blasCoreName)"
        }
    }
}
