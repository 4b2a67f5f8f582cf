import ArgumentParser
import Foundation
import MetaOpt

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a trained optimizer's φ as JSON with named tensors (docs/optimizer-file.md).")

    @Option(help: "The trained optimizer file (from train).")
    var optimizer: String

    @Option(help: "Output file (default: standard output).")
    var output: String?

    func validate() throws {
        if let problem = SingleProcess.problem(command: "export") { throw ValidationError(problem) }
        // URL(fileURLWithPath: "") is the current directory: say what is wrong instead.
        if optimizer.isEmpty { throw ValidationError("--optimizer must not be empty") }
        _ = try RunFiles.value(of: "optimizer", in: CommandLine.arguments.dropFirst(), remedy: "export writes one optimizer: run it once for each")
        if let output, output.isEmpty { throw ValidationError("--output must not be empty") }
        // The export is another format: written over its input, the trained optimizer is gone.
        if let output, FilePaths.same(FilePaths.url(output), FilePaths.url(optimizer)) {
            throw ValidationError("--output \(output) is the optimizer file itself; the export would replace it (choose another path)")
        }
    }

    func run() throws {
        let file = try OptimizerFile.read(from: FilePaths.url(optimizer))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = try encoder.encode(file.exported())
        if let output {
            try ResultFile.writeAtomically(data, to: FilePaths.url(output))
        } else {
            try Console.output(data + Data("\n".utf8))
        }
    }
}
