// swift-tools-version:6.0
import PackageDescription

// Programs that use metaopt-dist's MetaOpt library as another package would: through its public
// API only, depending on this repository by path (a package of your own would depend on it by URL
// and version). Build and run them with launch/check-examples.sh, or see README.md here.
let package = Package(
    name: "metaopt-examples",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "metaopt-dist", path: ".."),
    ],
    targets: [
        // Logistic regression on generated data: an optimizee and a family of them.
        .target(name: "ExampleProblems", dependencies: [.product(name: "MetaOpt", package: "metaopt-dist")]),
        // (a) A trained optimizer steps the parameters of a problem of its own, next to Adam.
        .executableTarget(name: "learned-vs-adam",
                          dependencies: ["ExampleProblems", .product(name: "MetaOpt", package: "metaopt-dist")]),
        // (b) Meta-trains a learned optimizer on that problem family and writes the optimizer file.
        .executableTarget(name: "train-own-optimizee",
                          dependencies: ["ExampleProblems", .product(name: "MetaOpt", package: "metaopt-dist")]),
    ]
)
