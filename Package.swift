// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "metaopt-dist",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "metaopt-dist", targets: ["metaopt-dist"]),
        .library(name: "MetaOpt", targets: ["MetaOpt"]),
        // `MPICommunicator`, for a package that meta-trains on several ranks (docs/swift-api.md).
        .library(name: "MetaOptMPI", targets: ["MetaOptMPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C shims over Open MPI, CBLAS and zlib: not API (each shim.h says so); MetaOptMPI and MetaOpt import them internally.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // The Float path's vector kernels, compiled once per kernel path (AVX-512, AVX2 + FMA,
        // portable) with per-function target attributes; MetaOpt picks one at run time
        // (`KernelPath`). Not API: see Sources/CMetaOptKernels/README.md. No compiler flags here, so
        // that other packages can depend on this one by version.
        .target(name: "CMetaOptKernels", exclude: ["README.md"]),
        // Stamps the build with VERSION and the git commit (Plugins/BuildStamp): a build command
        // that runs /bin/sh and git, no compiler flags.
        .plugin(name: "BuildStamp", capability: .buildTool()),
        .target(name: "MetaOptBuildInfo", plugins: ["BuildStamp"]),
        // The core library: no MPI dependency; talks to other ranks through `Communicator`.
        .target(name: "MetaOpt",
                dependencies: ["CBLAS", "CZlib", "CMetaOptKernels", "MetaOptBuildInfo", .product(name: "Logging", package: "swift-log")]),
        // `Communicator` over MPI.
        .target(name: "MetaOptMPI", dependencies: ["MetaOpt", "CMPI"]),
        .executableTarget(name: "metaopt-dist",
                          dependencies: ["MetaOpt", "MetaOptMPI", "CMetaOptKernels",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "MetaOptTests", dependencies: ["MetaOpt"]),
        // MetaOptMPI's parts that run without MPI_Init (the collective watchdog).
        .testTarget(name: "MetaOptMPITests", dependencies: ["MetaOptMPI"]),
        // Start the built `metaopt-dist` under mpirun (and as a singleton) and check its output.
        .testTarget(name: "MultiRankTests"),
    ]
)
