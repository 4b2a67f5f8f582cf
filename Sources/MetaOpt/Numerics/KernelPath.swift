internal import CMetaOptKernels
import Foundation

/// The vector kernels of the Float path (the LSTM's elementwise forward and backward, the weight
/// gradient, the input preprocessing) exist in one build for several instruction sets; a kernel
/// path is one of them. The process picks the fastest the CPU has once, at start-up
/// (`KernelPath.default`), asking the CPU itself (cpuid), so that an emulated CPU counts;
/// `METAOPT_KERNELS` forces one, for tests and comparisons.
///
/// Paths agree to a few units in the last place, not bit for bit: they sum in other orders (16 or
/// 8 lanes) and fuse multiply-adds differently. One path gives the same bits on every machine that
/// can run it, for any rank count. Everything that updates φ (the reduction, clipping, Adam) is
/// plain Swift, the same code on every path, so ranks on different paths still hold the same φ.
public enum KernelPath: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// Compiler vectors of 8 floats for the architecture's baseline (SSE2 on x86-64, NEON on
    /// aarch64): runs everywhere; what other architectures use.
    case portable
    /// x86-64 with AVX2 and FMA (x86-64-v3): 8 lanes, fused multiply-adds, non-temporal history stores.
    case avx2
    /// x86-64 with AVX-512 F, DQ, CD, BW and VL: 16 lanes, vscalefps, non-temporal history stores.
    case avx512

    /// The environment variable that forces a path: one of the raw values, or `auto`.
    public static let environmentVariable = "METAOPT_KERNELS"

    var cPath: metaopt_path {
        switch self {
        case .portable: return METAOPT_PATH_PORTABLE
        case .avx2: return METAOPT_PATH_AVX2
        case .avx512: return METAOPT_PATH_AVX512
        }
    }

    /// Whether this build has the path and this CPU can run it.
    public var isSupported: Bool {
        metaopt_kernel_table_for(cPath) != nil && metaopt_cpu_supports(cPath) != 0
    }

    /// Every path this process can run, fastest first.
    public static var supported: [KernelPath] { allCases.reversed().filter(\.isSupported) }

    /// The fastest path this CPU can run.
    public static var best: KernelPath { supported.first ?? .portable }

    public var description: String {
        switch self {
        case .portable: return "portable (8 lanes, baseline instructions)"
        case .avx2: return "AVX2 + FMA (8 lanes)"
        case .avx512: return "AVX-512 (16 lanes)"
        }
    }

    /// Who runs the LSTM layers' products z = Wᵀ X and dX = W dZ on this path: "own kernel" (with
    /// ", forward products paired" where `FloatKernels.pairsForwardProducts`) or "OpenBLAS"
    /// (`FloatKernels.ownsMatrixProducts`, with `METAOPT_MATRIX_PRODUCTS` and
    /// `METAOPT_FORWARD_PRODUCTS` applied).
    package var layerProducts: String {
        guard isSupported else { return "OpenBLAS" }
        let kernels = FloatKernels(self)
        guard kernels.ownsMatrixProducts else { return "OpenBLAS" }
        return kernels.pairsForwardProducts ? "own kernel, forward products paired" : "own kernel"
    }

    /// The measurement switches (`METAOPT_MATRIX_PRODUCTS`, `METAOPT_FORWARD_PRODUCTS`) that are
    /// set, as `NAME=value`: they, not the path, decide `layerProducts` and the results' last bits.
    package static var layerProductsSwitches: [String] {
        let environment = ProcessInfo.processInfo.environment
        return FloatKernels.measurementSwitches.compactMap { variable, _ in
            guard let value = environment[variable], !value.isEmpty else { return nil }
            return "\(variable)=\(value)"
        }
    }

    /// A message naming a measurement switch (`METAOPT_MATRIX_PRODUCTS`, `METAOPT_FORWARD_PRODUCTS`)
    /// set to a value the kernels do not know, which they would ignore; nil when there is none.
    package static func measurementSwitchProblem(
        in environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String? {
        for (variable, values) in FloatKernels.measurementSwitches {
            guard let value = environment[variable], !value.isEmpty, !values.contains(value) else { continue }
            let choices = values.count == 1 ? values[0] : values.dropLast().joined(separator: ", ") + " or " + values.last!
            return "\(variable)=\(value) is not a setting of the kernels; use \(choices), or unset it"
        }
        return nil
    }

    /// A message when `OPENBLAS_CORETYPE` names an x86-64 core whose OpenBLAS kernels this CPU
    /// cannot run (`OPENBLAS_CORETYPE=Haswell` carried to a Sandy Bridge node): OpenBLAS does not
    /// check, and the first matrix product would end in an illegal instruction. The cores of the
    /// AVX2 and AVX-512 generations, checked as the path of the same instructions, and AMD's
    /// cores of 2011-2015, whose kernels use FMA4, which no later CPU has (`Excavator` crashed
    /// on Zen 4 and under qemu's Haswell); nil when unset, runnable, or a core not listed.
    /// `hasFMA4`: whether the CPU has FMA4 (nil: ask it).
    package static func openBLASCoreTypeProblem(
        in environment: [String: String] = ProcessInfo.processInfo.environment,
        hasFMA4: Bool? = nil
    ) -> String? {
        #if arch(x86_64)
        guard let value = environment["OPENBLAS_CORETYPE"] else { return nil }
        let core = value.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let cpu = cpuName.isEmpty ? "this CPU" : "this CPU (\(cpuName))"
        let lacking: String
        if ["bulldozer", "piledriver", "steamroller", "excavator"].contains(core) {
            guard !(hasFMA4 ?? (metaopt_cpu_has_fma4() != 0)) else { return nil }
            lacking = "\(cpu) lacks FMA4 (AMD's four-operand multiply-add of 2011-2015, which no later Intel or AMD CPU has)"
        } else {
            let needs: [String: KernelPath] = ["haswell": .avx2, "zen": .avx2,
                                               "skylakex": .avx512, "cooperlake": .avx512, "sapphirerapids": .avx512]
            guard let path = needs[core], !path.isSupported else { return nil }
            lacking = path.lackedBy(cpu)
        }
        return "OPENBLAS_CORETYPE=\(value) makes OpenBLAS run kernels for another CPU: \(lacking) "
            + "(they would end in an illegal instruction); unset it to let OpenBLAS choose, or name a core this CPU has"
        #else
        return nil
        #endif
    }

    /// The features of `requirement` this CPU lacks, by name (empty where it lacks none): an
    /// administrator told "lacks AVX2" of a CPU that has it looks in the wrong place.
    var missingFeatures: String {
        let mask = metaopt_cpu_missing_features(cPath)
        let names: [(UInt32, String)] = [
            (UInt32(METAOPT_FEATURE_AVX), "AVX"), (UInt32(METAOPT_FEATURE_AVX2), "AVX2"),
            (UInt32(METAOPT_FEATURE_FMA), "FMA"), (UInt32(METAOPT_FEATURE_F16C), "F16C"),
            (UInt32(METAOPT_FEATURE_BMI2), "BMI2"),
            (UInt32(METAOPT_FEATURE_OS_YMM), "the operating system's saving of the YMM registers"),
            (UInt32(METAOPT_FEATURE_AVX512F), "AVX-512 F"), (UInt32(METAOPT_FEATURE_AVX512DQ), "AVX-512 DQ"),
            (UInt32(METAOPT_FEATURE_AVX512CD), "AVX-512 CD"), (UInt32(METAOPT_FEATURE_AVX512BW), "AVX-512 BW"),
            (UInt32(METAOPT_FEATURE_AVX512VL), "AVX-512 VL"),
            (UInt32(METAOPT_FEATURE_OS_ZMM), "the operating system's saving of the opmask and ZMM registers"),
        ]
        let missing = names.filter { mask & $0.0 != 0 }.map(\.1)
        guard let last = missing.last else { return "" }
        return missing.count == 1 ? last : missing.dropLast().joined(separator: ", ") + " and " + last
    }

    /// What `path` needs and what of it `cpu` lacks, for error messages.
    func lackedBy(_ cpu: String) -> String {
        let missing = missingFeatures
        return "\(cpu) lacks \(missing.isEmpty ? requirement : missing) (needed: \(requirement))"
    }

    /// What the path needs, for error messages.
    var requirement: String {
        switch self {
        case .portable: return "nothing"
        case .avx2: return "AVX2, FMA, F16C and BMI2 (x86-64-v3)"
        case .avx512: return "AVX-512 F, DQ, CD, BW and VL, with AVX2, FMA, F16C and BMI2"
        }
    }

    /// The CPU's name, as cpuid reports it ("" where unknown).
    public static var cpuName: String {
        var buffer = [CChar](repeating: 0, count: 64)
        metaopt_cpu_brand(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmingCharacters(in: .whitespaces)
    }

    /// The path that `request` (a raw value, `auto`, or nil/empty for auto) names, checked
    /// against this CPU.
    public static func resolve(_ request: String?) throws(KernelPathError) -> KernelPath {
        // Newlines too: a value from a file with Windows line ends carries a "\r".
        let name = (request ?? "").trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        if name.isEmpty || name == "auto" { return best }
        guard let path = KernelPath(rawValue: name) else { throw .unknown(request ?? "") }
        guard metaopt_kernel_table_for(path.cPath) != nil else { throw .notBuilt(path) }
        guard path.isSupported else { throw .unsupported(path, cpu: cpuName) }
        return path
    }

    /// The path of this process: `METAOPT_KERNELS` if set (checked), else the fastest the CPU has.
    /// Fixed for the life of the process.
    public static let fromEnvironment: Result<KernelPath, KernelPathError> = {
        do throws(KernelPathError) {
            return .success(try resolve(ProcessInfo.processInfo.environment[environmentVariable]))
        } catch {
            return .failure(error)
        }
    }()

    /// `requested`, or the process's path (`fromEnvironment`) when nil: what the throwing entry
    /// points of the library (`MetaTrainer`, `LearnedOptimizer.run`, `makeStepper`) call, so that a
    /// wrong `METAOPT_KERNELS` is an error they throw rather than the trap of `default`.
    public static func resolved(_ requested: KernelPath?) throws(KernelPathError) -> KernelPath {
        if let requested { return requested }
        return try fromEnvironment.get()
    }

    /// The path engines use unless told otherwise. Programs call `fromEnvironment` first and
    /// report its error; a library user who set `METAOPT_KERNELS` wrongly stops here with the message.
    public static var `default`: KernelPath {
        switch fromEnvironment {
        case .success(let path): return path
        case .failure(let error): fatalError(error.description)
        }
    }
}

/// Why a requested kernel path cannot be used.
public enum KernelPathError: Error, CustomStringConvertible, Sendable {
    case unknown(String)
    case notBuilt(KernelPath)
    case unsupported(KernelPath, cpu: String)

    public var description: String {
        let variable = KernelPath.environmentVariable
        let choices = "auto, " + KernelPath.allCases.map(\.rawValue).joined(separator: ", ")
        switch self {
        case .unknown(let name):
            // Control characters escaped, so that the value shown is the value given.
            let shown = name.unicodeScalars.contains { $0.properties.generalCategory == .control } ? name.debugDescription : name
            return "\(variable)=\(shown) is not a kernel path; use one of \(choices)"
        case .notBuilt(let path):
            return "\(variable)=\(path.rawValue): this build has no \(path.rawValue) kernels (they exist on x86-64 only); use auto or portable"
        case .unsupported(let path, let cpu):
            let name = cpu.isEmpty ? "this CPU" : "this CPU (\(cpu))"
            return "\(variable)=\(path.rawValue) asks for the \(path) kernels, but \(path.lackedBy(name)); "
                + "it can run: \(KernelPath.supported.map(\.rawValue).joined(separator: ", ")) (or unset \(variable))"
        }
    }
}
