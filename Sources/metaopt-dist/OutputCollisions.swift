import ArgumentParser
import Foundation
import MetaOpt

/// Refuses, as a usage error, outputs that would replace one another or a file the command reads
/// (`FilePaths.same`: links and hard links too). The scaling tools wrote a CSV over a run's
/// metrics.jsonl, or three outputs into one path, and ended with status 0.
/// `outputs`: (option, path) of every output given; `inputs`: the files the command reads.
func refuseCollidingOutputs(_ outputs: [(option: String, path: String)], inputs: [URL]) throws {
    for (index, output) in outputs.enumerated() {
        let url = FilePaths.url(output.path)
        if let earlier = outputs[..<index].first(where: { FilePaths.same(FilePaths.url($0.path), url) }) {
            throw ValidationError("\(output.option) \(output.path) is the path of \(earlier.option) too: give each output its own")
        }
        if let input = inputs.first(where: { FilePaths.same($0, url) }) {
            throw ValidationError("\(output.option) \(output.path) is \(input.path), which this command reads; choose another path")
        }
    }
}
