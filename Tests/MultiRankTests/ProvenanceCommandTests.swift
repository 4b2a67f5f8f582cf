import Foundation
import XCTest

/// Every file `train`, `evaluate` and `export` write says which build, started how, on which
/// kernels, wrote it; `--version` names the commit; the build stamp script marks a changed tree.
final class ProvenanceCommandTests: XCTestCase {
    struct Provenance: Decodable, Equatable {
        var version: String
        var commit: String?
        var command: [String]
        var kernels: String
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `git -C directory args...`: its standard output and status (127 when git is missing).
    static func git(_ args: [String], in directory: URL) throws -> (output: String, status: Int32) {
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/usr/bin/env"),
                                           arguments: ["git", "-C", directory.path] + args, timeout: 30)
        return (result.stdout.trimmingCharacters(in: .whitespacesAndNewlines), result.status)
    }

    /// What the binary must say about its commit, when the package is a git checkout: HEAD, with
    /// "+dirty" at least when a source file differs from it. Nil when this is no git checkout.
    func assertCommitIsThisCheckout(_ commit: String?, file: StaticString = #filePath, line: UInt = #line) throws {
        let head = try Self.git(["rev-parse", "HEAD"], in: Self.packageRoot)
        let top = try Self.git(["rev-parse", "--show-toplevel"], in: Self.packageRoot)
        guard head.status == 0, top.status == 0,
              URL(fileURLWithPath: top.output).resolvingSymlinksInPath() == Self.packageRoot.resolvingSymlinksInPath() else {
            XCTAssertNil(commit, "not built from a git checkout, yet the build names a commit", file: file, line: line)
            return
        }
        let commit = try XCTUnwrap(commit, "built from a git checkout, but no commit recorded", file: file, line: line)
        XCTAssertEqual(String(commit.prefix(40)), head.output, "the build's commit is not `git rev-parse HEAD`", file: file, line: line)
        XCTAssertTrue(commit.count == 40 || commit.dropFirst(40) == "+dirty", commit, file: file, line: line)
        // Sources changed since HEAD: the stamp must not claim HEAD's files (the other way round
        // may differ, a file edited after the build).
        let changed = try Self.git(["status", "--porcelain", "--", "Sources", "Plugins", "Package.swift", "VERSION"], in: Self.packageRoot)
        if !changed.output.isEmpty {
            XCTAssertTrue(commit.hasSuffix("+dirty"), "sources differ from HEAD:\n\(changed.output)\nbut the build says \(commit)",
                          file: file, line: line)
        }
    }

    static var version: String {
        get throws {
            try String(contentsOf: packageRoot.appendingPathComponent("VERSION"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    func testVersionNamesTheCommit() throws {
        let result = try MPIJob.runSingleton(args: ["--version"], timeout: 30)
        XCTAssertEqual(result.status, 0, "\(result)")
        let printed = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let range = printed.range(of: #"\(commit [^,]+,"#, options: .regularExpression) else {
            return XCTFail("no commit in \(printed)")
        }
        let short = String(printed[range].dropFirst("(commit ".count).dropLast())
        let head = try Self.git(["rev-parse", "HEAD"], in: Self.packageRoot)
        if head.status == 0 && short != "unknown" {
            XCTAssertTrue(head.output.hasPrefix(String(short.prefix(12))), "\(printed) vs HEAD \(head.output)")
        }
    }

    /// train (twice: a fresh run, then a resume with more meta-steps), evaluate and export.
    func testEveryFileNamesTheProcessThatWroteIt() throws {
        try DistributedTrain.requireMPIRun()
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let run = scratch.appendingPathComponent("run")
        var job = DistributedTrain.smallJob
        job[job.firstIndex(of: "--iterations")! + 1] = "4"
        let first = ["train"] + job + ["--run-dir", run.path, "--validate-every", "2", "--validation-functions", "3"]
        let trained = try MPIJob.run(np: 2, args: first, timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(trained.status, 0, "\(trained)")
        job[job.firstIndex(of: "--iterations")! + 1] = "6"
        let second = ["train"] + job + ["--run-dir", run.path, "--validate-every", "2", "--validation-functions", "3"]
        let resumed = try MPIJob.run(np: 2, args: second, timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(resumed.status, 0, "\(resumed)")
        XCTAssertTrue(resumed.stderr.contains("resuming from"), "\(resumed)")

        // The program by its file name: a directory would name a path of the machine.
        let binary = try MPIJob.binaryURL().lastPathComponent
        let version = try Self.version
        func check(_ p: Provenance?, _ args: [String], _ what: String, line: UInt = #line) throws {
            let p = try XCTUnwrap(p, "\(what): no provenance", line: line)
            XCTAssertEqual(p.command, [binary] + args, "\(what): command line", line: line)
            XCTAssertEqual(p.version, version, "\(what): version", line: line)
            XCTAssertTrue(["avx512", "avx2", "portable"].contains(p.kernels), "\(what): kernels \(p.kernels)", line: line)
            try assertCommitIsThisCheckout(p.commit, line: line)
        }
        struct File: Decodable { var provenance: Provenance?; var kernels: String? }
        let optimizerURL = run.appendingPathComponent("optimizer.json")
        let optimizer = try JSONDecoder().decode(File.self, from: Data(contentsOf: optimizerURL))
        try check(optimizer.provenance, second, "optimizer.json (written by the resumed run)")
        XCTAssertEqual(optimizer.provenance?.kernels, optimizer.kernels)
        // What the comparisons of runs leave: the file as written minus exactly that member.
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: optimizerURL)) as! [String: Any]
        let stripped = try JSONSerialization.jsonObject(
            with: ProvenanceSupport.optimizerFileWithoutProvenance(Data(contentsOf: optimizerURL))) as! [String: Any]
        XCTAssertEqual(stripped.keys.sorted(), written.keys.filter { $0 != "provenance" }.sorted())
        XCTAssertEqual((stripped["phi"] as? [Double])?.count, (written["phi"] as? [Double])?.count)
        let best = try JSONDecoder().decode(File.self, from: Data(contentsOf: run.appendingPathComponent("best-optimizer.json")))
        try check(best.provenance, best.provenance?.command == [binary] + first ? first : second, "best-optimizer.json")

        // metrics.jsonl: the first line of each process carries its provenance, no other line.
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.map { $0["iteration"] as? Int }, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(lines.indices.filter { lines[$0]["provenance"] != nil }, [0, 4], "provenance on the lines of meta-steps 0 and 4")
        for (index, args) in [(0, first), (4, second)] {
            let data = try JSONSerialization.data(withJSONObject: lines[index]["provenance"]!)
            try check(try JSONDecoder().decode(Provenance.self, from: data), args, "metrics.jsonl line \(index + 1)")
        }

        // Checkpoints: 4 from the first process, 6 from the resumed one, in their notes.
        for (step, args) in [(4, first), (6, second)] {
            let url = FaultTest.checkpointURL(runDirectory: run, step: step)
            let notes = try ProvenanceSupport.checkpointContents(Data(contentsOf: url)).notes
            XCTAssertEqual(notes["version"], version, "checkpoint \(step)")
            XCTAssertEqual(notes["kernels"], optimizer.kernels, "checkpoint \(step)")
            XCTAssertEqual(notes["commit"], optimizer.provenance?.commit, "checkpoint \(step)")
            // The command as a shell reads it back.
            let echoed = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                               arguments: ["-c", "printf '%s\\n' " + (notes["command"] ?? "")], timeout: 10)
            XCTAssertEqual(echoed.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init),
                           [binary] + args, "checkpoint \(step): \(notes)")
        }

        // evaluate: report.json names the evaluating process and the optimizer's trainer.
        let out = scratch.appendingPathComponent("eval")
        let evaluate = ["evaluate", "--optimizer", optimizerURL.path, "--functions", "3", "--steps", "10",
                        "--baselines", "none", "--out", out.path]
        let evaluated = try MPIJob.runSingleton(args: evaluate, timeout: DistributedTrain.jobTimeout)
        XCTAssertEqual(evaluated.status, 0, "\(evaluated)")
        struct Report: Decodable { var provenance: Provenance?; var optimizerProvenance: Provenance? }
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: out.appendingPathComponent("report.json")))
        try check(report.provenance, evaluate, "report.json")
        XCTAssertEqual(report.optimizerProvenance, optimizer.provenance, "report.json: the optimizer's provenance")

        // export: the optimizer file's provenance travels with the tensors.
        let exported = scratch.appendingPathComponent("export.json")
        let export = try MPIJob.runSingleton(args: ["export", "--optimizer", optimizerURL.path, "--output", exported.path])
        XCTAssertEqual(export.status, 0, "\(export)")
        XCTAssertEqual(try JSONDecoder().decode(File.self, from: Data(contentsOf: exported)).provenance, optimizer.provenance)
    }

    /// Plugins/BuildStamp/build-stamp.sh on scratch repositories: a clean checkout gives its
    /// commit, any change (edited, untracked) adds "+dirty", and a directory that is not the top of
    /// a work tree (no git, or inside another repository) gives no commit.
    func testBuildStampScript() throws {
        guard try Self.git(["--version"], in: Self.packageRoot).status == 0 else { throw XCTSkip("git not found") }
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let script = Self.packageRoot.appendingPathComponent("Plugins/BuildStamp/build-stamp.sh").path
        func stamp(_ dir: URL) throws -> (version: String?, commit: String?) {
            let out = scratch.appendingPathComponent("stamp-\(UUID().uuidString).swift")
            let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/sh"), arguments: [script, dir.path, out.path], timeout: 30)
            XCTAssertEqual(result.status, 0, "\(result)")
            let text = try String(contentsOf: out, encoding: .utf8)
            func value(_ name: String) -> String? {
                guard let r = text.range(of: "private let \(name)(: String\\?)? = (\"[^\"]*\"|nil)", options: .regularExpression) else { return nil }
                let v = text[r].split(separator: "=").last!.trimmingCharacters(in: .whitespaces)
                return v == "nil" ? nil : String(v.dropFirst().dropLast())
            }
            return (value("version"), value("commit"))
        }
        let repo = scratch.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repo.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try "1.2.3\n".write(to: repo.appendingPathComponent("VERSION"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try stamp(repo).commit, nil, "no repository yet")
        XCTAssertEqual(try stamp(repo).version, "1.2.3")
        for args in [["init", "-q"], ["add", "VERSION"],
                     ["-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "v"]] {
            XCTAssertEqual(try Self.git(args, in: repo).status, 0, "git \(args)")
        }
        let head = try Self.git(["rev-parse", "HEAD"], in: repo).output
        XCTAssertEqual(try stamp(repo).commit, head)
        try "notes".write(to: repo.appendingPathComponent("sub/untracked.txt"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try stamp(repo).commit, head + "+dirty", "an untracked file")
        XCTAssertEqual(try stamp(repo.appendingPathComponent("sub")).commit, nil, "a directory inside another repository")
        try FileManager.default.removeItem(at: repo.appendingPathComponent("sub/untracked.txt"))
        XCTAssertEqual(try stamp(repo).commit, head)
        try "1.2.4\n".write(to: repo.appendingPathComponent("VERSION"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try stamp(repo).commit, head + "+dirty", "an edited file")
        XCTAssertEqual(try stamp(repo).version, "1.2.4")
    }
}
