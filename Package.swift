// swift-tools-version:6.0
import PackageDescription

// Instruction set of the MetaOpt target (docs/performance.md, "Instruction set"). Its vector
// kernels (FastMath, the Float LSTM kernels, the weight-gradient kernel) are written with SIMD
// types; by default they are built for AVX-512 (16 Float lanes, 32 registers, non-temporal
// stores), which the project's machines (AMD EPYC, Zen 4) have. `METAOPT_ISA=avx2 swift build`
// builds for x86-64-v3 (AVX2 + FMA, 8 lanes) instead, about 10% slower. Both need FMA: without it
// every fused multiply-add would be a libm call. `checkVectorISA()` tells a machine without them.
#if arch(x86_64)
let vectorISA: [SwiftSetting] = Context.environment["METAOPT_ISA"] == "avx2"
    ? [.unsafeFlags(["-target-cpu", "haswell"])]
    : [.unsafeFlags(["-target-cpu", "znver4"]), .define("METAOPT_AVX512")]
#else
let vectorISA: [SwiftSetting] = []
#endif

let package = Package(
    name: "metaopt-dist",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "metaopt-dist", targets: ["metaopt-dist"]),
        .library(name: "MetaOpt", targets: ["MetaOpt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C shims: not API. See Sources/CMPI/README.md and Sources/CBLAS/README.md.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // The core library: no MPI dependency; talks to other ranks through `Communicator`.
        .target(name: "MetaOpt",
                dependencies: ["CBLAS", "CZlib", .product(name: "Logging", package: "swift-log")],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
                                // Optimised in debug builds too: the vector kernels are 10× slower
                                // unoptimised, which made the test suite's training test 55 s.
                                .unsafeFlags(["-O"], .when(configuration: .debug))] + vectorISA),
        // `Communicator` over MPI.
        .target(name: "MetaOptMPI", dependencies: ["MetaOpt", "CMPI"]),
        .executableTarget(name: "metaopt-dist",
                          dependencies: ["MetaOpt", "MetaOptMPI",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "MetaOptTests", dependencies: ["MetaOpt"]),
        // Start the built `metaopt-dist` under mpirun (and as a singleton) and check its output.
        .testTarget(name: "MultiRankTests"),
    ]
)
