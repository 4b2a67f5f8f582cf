// swift-tools-version:6.0
import PackageDescription

// The MetaOpt target's vector kernels (FastMath, the Float LSTM kernels) need AVX2 and FMA: on
// x86-64 the target is built for the x86-64-v3 feature set ("haswell": AVX2, FMA, BMI2, F16C),
// which every machine this project runs on has (see docs/performance.md). Without FMA in the
// target, each fused multiply-add would become a libm call.
#if arch(x86_64)
let vectorISA = ["-target-cpu", "haswell"]
#else
let vectorISA: [String] = []
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
        // The core library: no MPI dependency; talks to other ranks through `Communicator`.
        .target(name: "MetaOpt",
                dependencies: ["CBLAS", .product(name: "Logging", package: "swift-log")],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
                                .unsafeFlags(vectorISA)]),
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
