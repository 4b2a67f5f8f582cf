// Meta-trains a learned optimizer on an optimizee family of this package (logistic regression on
// generated data), checks it on problems it has not seen, and writes an ordinary optimizer file.
//
//   swift run -c release train-own-optimizee [--meta-steps N] [--output FILE] [--help]
//
// An --output that cannot be written (a directory, a path ending in "/", a file in the way of a
// directory) is refused with status 64 before training. Exits 1 if the trained optimizer does not
// beat the untrained one on the held-out problems.
import Foundation
import ExampleProblems
import MetaOpt

var metaSteps = 60
var output = "logistic-optimizer.json"
let usage = """
    usage: train-own-optimizee [--meta-steps N] [--output FILE]
      --meta-steps N   meta-steps of training (default \(metaSteps))
      --output FILE    the optimizer file to write (default \(output)); checked before training
      -h, --help       print this text
    Exits 1 if the trained optimizer is no better than the untrained one, 64 for a bad option.
    """
var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    if option == "-h" || option == "--help" {
        print(usage)
        exit(0)
    }
    guard let value = arguments.popFirst() else { exitWithMessage("\(option) needs a value", status: 64) }
    switch option {
    case "--meta-steps":
        guard let n = Int(value), n > 0 else { exitWithMessage("--meta-steps takes a positive number (got \(value))", status: 64) }
        metaSteps = n
    case "--output": output = value
    default: exitWithMessage("unknown option \(option); options: --meta-steps N, --output FILE, --help", status: 64)
    }
}

/// Why `OptimizerFile.write(to:)` could not write `path`, or nil: checked before training, so that
/// a bad --output ends the program at once rather than after every meta-step, with the result lost.
/// The write replaces a regular file (or the one a symbolic link leads to) or creates a missing
/// one, creating missing directories on the way; so the nearest existing directory above the file
/// must be a directory this process can create a file in.
func outputProblem(_ path: String) -> String? {
    if path.isEmpty { return "is empty: give a file's name" }
    if path.hasSuffix("/") { return "ends in \"/\", which names a directory: give a file's name" }
    // "new/." and "new/.." name directories too, also before they exist.
    if let last = path.split(separator: "/").last, last == "." || last == ".." {
        return "ends in \"\(last)\", which names a directory: give a file's name"
    }
    let files = FileManager.default
    var isDirectory: ObjCBool = false
    var target = path
    if files.fileExists(atPath: path, isDirectory: &isDirectory) {  // follows a symbolic link
        if isDirectory.boolValue { return "is a directory: give a file's name" }
        target = (path as NSString).resolvingSymlinksInPath
        let type = (try? files.attributesOfItem(atPath: target))?[.type] as? FileAttributeType
        if type != .typeRegular { return "is not a regular file; only a regular file is replaced" }
    } else if (try? files.destinationOfSymbolicLink(atPath: path)) != nil {
        return "is a symbolic link to a missing file"
    }
    var directory = URL(fileURLWithPath: target).deletingLastPathComponent().path
    while !files.fileExists(atPath: directory, isDirectory: &isDirectory) {
        let parent = (directory as NSString).deletingLastPathComponent
        if parent == directory || parent.isEmpty { break }
        directory = parent
    }
    if !isDirectory.boolValue { return "cannot be created: \(directory) is not a directory" }
    // A probe file, created and removed: it catches permissions and read-only file systems alike.
    let probe = URL(fileURLWithPath: directory).appendingPathComponent(".train-own-optimizee-probe-\(getpid())").path
    guard files.createFile(atPath: probe, contents: nil) else { return "cannot be created: \(directory) is not writable" }
    try? files.removeItem(atPath: probe)
    return nil
}
if let problem = outputProblem(output) {
    exitWithMessage("--output \(output) \(problem) (checked before training)", status: 64)
}

do {
    // The run (ExampleProblems/LogisticOptimizerTraining.swift): the family and the settings.
    let trainer = try makeLogisticOptimizerTrainer(metaSteps: metaSteps)
    let optimizerConfig = trainer.config.optimizer
    let untrainedPhi = trainer.state.phi
    var metaLosses: [Double] = []
    while !trainer.finished { metaLosses.append(try trainer.step().meanStepLoss) }
    print("mean loss per unrolled step, every 10th meta-step:",
          stride(from: 0, to: metaLosses.count, by: 10).map { String(format: "%.4f", metaLosses[$0]) }.joined(separator: " "))

    // Held-out problems (another seed), 100 steps of the trained and of the untrained optimizer.
    let heldOut: [any Optimizee] = (0..<20).map { LogisticRegressionFamily(features: 20, examples: 100).sample(RandomKey(seed: 99, horizon: 0, task: $0)) }
    let meanLoss = { (phi: [Float], t: Int) throws -> Double in
        let curves = try LearnedOptimizer(config: optimizerConfig, phi: phi).run(on: heldOut, steps: 100)
        return curves.map { Double($0[t]) }.reduce(0, +) / Double(curves.count)
    }
    let start = try meanLoss(untrainedPhi, 0)
    let trained = try meanLoss(trainer.state.phi, 100), untrained = try meanLoss(untrainedPhi, 100)
    print(String(format: "held-out problems: mean loss %.4f at the start, after 100 steps %.4f trained, %.4f untrained",
                 start, trained, untrained))

    // No `training` section: its task would name the recorded quadratic, not this family.
    do {
        try OptimizerFile(optimizer: optimizerConfig, phi: trainer.state.phi, training: nil, iteration: trainer.state.iteration,
                          kernels: trainer.kernelPath.rawValue)
            .write(to: URL(fileURLWithPath: output))
    } catch {
        exitWithMessage("\(error)", status: 1)
    }
    print("wrote \(output) (\(metaSteps) meta-steps)")
    if !(trained < untrained) {
        print("train-own-optimizee: the trained optimizer is no better than the untrained one")
        exit(1)
    }
} catch {
    // An error the library throws (a kernel path this CPU lacks, METAOPT_KERNELS=bogus): its
    // message and status 1, not the trap and stack dump of a top-level `try`.
    exitWithMessage("\(error)", status: 1)
}
