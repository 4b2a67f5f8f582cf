import Foundation
import XCTest

/// Examples that run: every shell command that README.md, docs/*.md and the headers of the launch
/// scripts and hostfiles show either runs here, or is marked illustrative with the reason.
///
/// **Where the commands come from.**
/// * README.md and docs/*.md: fenced blocks tagged `sh` or `bash`. One command per line; a line
///   ending in a backslash continues on the next; comment lines are skipped. A fenced block without
///   a tag whose first line is a command is an error (tag it, so that it is tested).
/// * launch/*.sh, launch/slurm.sbatch and hosts/*: the usage lines of the leading comment block,
///   `#` and at least two spaces, then a command word (bash, sh, sbatch, mpirun, metaopt-dist, ...,
///   possibly after `VAR=value` assignments).
///
/// **What happens to each** (`Examples.Kind`):
/// * *Illustrative*: a trailing comment that contains the word "illustrative" (`# illustrative:
///   needs Slurm`), or a first line `# illustrative: REASON` in a fenced block (the whole block), or
///   an entry of `ExamplesTests.illustrative` (file, command, reason; an entry that matches nothing
///   fails). Not run.
/// * *Synopsis*: a form, not a command: an optional part in square brackets, or an upper-case
///   placeholder (`FILE`, `N`, `COMMAND...`). Not run; the script it names must exist, and for
///   `metaopt-dist SUBCOMMAND ...`, `metaopt-dist help SUBCOMMAND` must succeed.
/// * *Assignments* only (`opt=runs/mlp-p20/best-optimizer.json`): put in front of the later
///   commands of the same block.
/// * Everything else *runs*: `bash -c COMMAND` from a stand-in of the repository root, and must
///   exit with status 0, after this substitution rule (`Examples.substitute` and
///   `Examples.wrapperScript`):
///   1. In the text: `-np N`, `-n N`, `--np N` and `NP=N` become 2 ranks; `sbatch [--opt=value...]
///      SCRIPT` becomes `bash SCRIPT` (no Slurm in a test; outside an allocation mpirun starts one
///      rank per core); `.build/release/metaopt-dist` becomes `metaopt-dist`.
///   2. In the environment: `metaopt-dist` on the PATH and `METAOPT_BIN` (which the launch scripts
///      run) are a wrapper around the binary under test; `NP=2`; `METAOPT_SETUP_NO_BUILD=1`
///      (launch/setup.sh checks the packages and neither builds nor installs: the tests run on a
///      build already); mpirun allowed as root; `OPENBLAS_NUM_THREADS=1`.
///   3. The stand-in: every document's commands run, in order, in a scratch directory of its own
///      that links the checkout's top-level entries (launch/, hosts/, recipes/, ...) except runs/
///      and docs/ (copied instead, for documents whose commands name it), so that what they write
///      (`runs/...`, `docs/results/...`, `> my-run.json`) stays out of the checkout, and an
///      `evaluate` finds the optimizer that a `train` before it in the same document wrote. The
///      docs/ pages take the quick start as done: their directories start with a copy of
///      README.md's runs/ (its runs/quadratic). The launch scripts, which cd to launch/.., see the
///      stand-in as the repository.
///   4. The wrapper shrinks the sizes, replacing the value where the option is given and adding
///      the option where it is not: train `--iterations 2 --unroll 5 --horizon 10` (and, when it
///      validates, by flag, in its --recipe or --config file or by its task's default (the
///      quadratics), `--validate-every 2 --validation-functions 2`); evaluate `--functions 2 --steps 5 --tuning-functions 1` (not the last with `--baselines none`); bench
///      `--repetitions 1 --warmup 0`, and but for the -step workloads `--evaluation-steps 5
///      --evaluation-repetitions 1 --gemm-repetitions 0`. Every other argument reaches the binary
///      as written, so option names and values are parsed and validated for real.
///
/// A command that fails is reported at its file and line, with the command as written, as run,
/// what the wrapper passed to the binary, and the end of its output. Every command is printed with
/// its kind, and each document with its counts and time (about two minutes in all on 2 cores,
/// one and a half of them for the 87 commands of docs/results.md).
final class ExamplesTests: XCTestCase {
    /// Commands that cannot run in a test, with the reason. `command` is matched as a substring of
    /// the command as written; nil matches every command of the file.
    static let illustrative: [(file: String, command: String?, reason: String)] = [
        ("README.md", "bash launch/test.sh",
         "runs the whole test suite, this test included (CI runs exactly this line: .ci/run)"),
        ("launch/test.sh", nil, "runs the whole test suite, this test included"),
        ("launch/check-consumer.sh", nil,
         "builds the package from scratch in a throwaway consumer (minutes); launch/test.sh runs it after the suite"),
        ("launch/check-examples.sh", nil,
         "builds the Examples package from scratch (minutes); launch/test.sh runs it after the suite, through launch/check-consumer.sh"),
        ("launch/bench-paths.sh", nil, "builds an earlier commit twice and times every kernel path for minutes"),
        ("launch/bench-peer.sh", nil,
         "needs the JAX reference, which is not in the repository (../shared/peer), and its virtual environment"),
        ("launch/netns-hosts.sh", nil,
         "needs root, creates network namespaces and edits /etc/hosts; MultiHostTests run the same steps under a prefix of their own"),
        ("hosts/cluster.example", nil, "a template: needs the hosts it names"),
    ]

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Longest time one command may take.
    static let commandTimeout: TimeInterval = 120

    // MARK: The rules on their own

    /// Extraction, markers, synopses and the substitution rule on a made-up document.
    func testExtractionAndSubstitutionRules() throws {
        let markdown = """
            Text.

            ```sh
            metaopt-dist train --iterations 50   # a comment
            bash launch/local.sh -np 8 train --task mlp \\
                --run-dir runs/mlp
            # a comment line
            opt=runs/x/optimizer.json
            sbatch --nodes=4 --ntasks-per-node=32 launch/slurm.sbatch train   # Slurm
            .build/release/metaopt-dist evaluate --optimizer $opt   # illustrative: for the test
            metaopt-dist train [--task quadratic|mlp|cnn] [options]
            bash launch/restart.sh --stop-signal USR1 -- NP=8 bash launch/local.sh train
            ```

            ```
            bash launch/untagged.sh
            ```

            ```sh
            # illustrative: the whole block
            bash launch/whatever.sh
            ```
            """
        let (commands, problems) = Examples.fromMarkdown(markdown, file: "doc.md")
        XCTAssertEqual(problems.map(\.line), [16], "\(problems)")
        XCTAssertEqual(commands.map(\.line), [4, 5, 8, 9, 10, 11, 12, 21])
        XCTAssertEqual(commands[1].text, "bash launch/local.sh -np 8 train --task mlp --run-dir runs/mlp")
        XCTAssertEqual(commands.map(\.kind), [.run, .run, .assignments, .run, .illustrative("illustrative: for the test"),
                                              .synopsis, .run, .illustrative("illustrative: the whole block")])
        XCTAssertEqual(Examples.substitute(commands[1].text),
                       "bash launch/local.sh -np 2 train --task mlp --run-dir runs/mlp")
        XCTAssertEqual(Examples.substitute(commands[3].text), "bash launch/slurm.sbatch train")
        XCTAssertEqual(Examples.substitute(commands[4].text), "metaopt-dist evaluate --optimizer $opt")
        XCTAssertEqual(Examples.substitute(commands[6].text),
                       "bash launch/restart.sh --stop-signal USR1 -- NP=2 bash launch/local.sh train")

        XCTAssertFalse(Examples.isSynopsis("mpirun -x OPENBLAS_NUM_THREADS metaopt-dist comm-check"))
        XCTAssertTrue(Examples.isSynopsis("bash launch/hostfile.sh FILE train"))
        XCTAssertTrue(Examples.isSynopsis("bash launch/restart.sh -- COMMAND..."))

        let header = """
            #!/usr/bin/env bash
            # Runs things.
            #
            #   bash launch/x.sh [-np N] [ARGS...]
            #   bash launch/x.sh -np 4 train --iterations 3 \\
            #       --run-dir runs/q
            #   NP=4 bash launch/x.sh comm-check      # a comment
            #   MPIRUN_ARGS="--mca btl tcp,self"
            #SBATCH --nodes=2
            set -e
            #   bash launch/not-in-the-header.sh
            """
        let fromHeader = Examples.fromHeader(header, file: "launch/x.sh")
        XCTAssertEqual(fromHeader.map(\.line), [4, 5, 7])
        XCTAssertEqual(fromHeader.map(\.kind), [.synopsis, .run, .run])
        XCTAssertEqual(fromHeader[1].text, "bash launch/x.sh -np 4 train --iterations 3 --run-dir runs/q")

        // The wrapper's size rule, on its own.
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let wrapper = try Examples.writeWrapper(into: scratch)
        let echo = scratch.appendingPathComponent("echo-args")
        try "#!/bin/sh\nprintf '%s\\n' \"$@\"\n".write(to: echo, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: echo.path)
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("recipes"), withIntermediateDirectories: true)
        try #"{"p": 20, "validate-every": 1000}"#.write(to: scratch.appendingPathComponent("recipes/v.json"),
                                                        atomically: true, encoding: .utf8)
        try #"{"p": 20, "validate-every": null}"#.write(to: scratch.appendingPathComponent("run.json"),
                                                        atomically: true, encoding: .utf8)
        try #"{"task": "mlp", "p": 20}"#.write(to: scratch.appendingPathComponent("mlp.json"), atomically: true, encoding: .utf8)
        try #"{"validate-every": 0}"#.write(to: scratch.appendingPathComponent("off.json"), atomically: true, encoding: .utf8)
        func wrapped(_ args: [String]) throws -> [String] {
            let result = try MPIJob.runProcess(
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", #"cd "$1" && shift && exec "$@""#, "sh", scratch.path, wrapper.path] + args,
                timeout: 30, environment: ["METAOPT_EXAMPLES_BINARY": echo.path])
            XCTAssertEqual(result.status, 0, "\(result)")
            return result.stdout.split(separator: "\n").map(String.init)
        }
        // The default job validates (the quadratics' default): its validation shrinks too.
        XCTAssertEqual(try wrapped([]), ["--iterations", "2", "--unroll", "5", "--horizon", "10",
                                         "--validate-every", "2", "--validation-functions", "2"])
        XCTAssertEqual(try wrapped(["train", "--task", "mlp"]), ["train", "--task", "mlp", "--iterations", "2", "--unroll", "5", "--horizon", "10"])
        XCTAssertEqual(try wrapped(["train", "--validate-every", "0"]),
                       ["train", "--validate-every", "0", "--iterations", "2", "--unroll", "5", "--horizon", "10"])
        XCTAssertEqual(try wrapped(["train", "--iterations=4000", "--validate-every", "1000", "--steps", "100"]),
                       ["train", "--iterations=2", "--validate-every", "2", "--steps", "100",
                        "--unroll", "5", "--horizon", "10", "--validation-functions", "2"])
        XCTAssertEqual(try wrapped(["train", "--recipe", "v"]),
                       ["train", "--recipe", "v", "--iterations", "2", "--unroll", "5", "--horizon", "10",
                        "--validate-every", "2", "--validation-functions", "2"])
        XCTAssertEqual(try wrapped(["train", "--config", "run.json"]),
                       ["train", "--config", "run.json", "--iterations", "2", "--unroll", "5", "--horizon", "10",
                        "--validate-every", "2", "--validation-functions", "2"])
        XCTAssertEqual(try wrapped(["train", "--config", "mlp.json"]),
                       ["train", "--config", "mlp.json", "--iterations", "2", "--unroll", "5", "--horizon", "10"])
        XCTAssertEqual(try wrapped(["train", "--config", "off.json"]),
                       ["train", "--config", "off.json", "--iterations", "2", "--unroll", "5", "--horizon", "10"])
        XCTAssertEqual(try wrapped(["evaluate", "--optimizer", "runs/q/optimizer.json", "--functions", "100"]),
                       ["evaluate", "--optimizer", "runs/q/optimizer.json", "--functions", "2",
                        "--steps", "5", "--tuning-functions", "1"])
        XCTAssertEqual(try wrapped(["evaluate", "--optimizer", "o.json", "--baselines", "none"]),
                       ["evaluate", "--optimizer", "o.json", "--baselines", "none", "--functions", "2", "--steps", "5"])
        XCTAssertEqual(try wrapped(["export", "--optimizer", "o.json"]), ["export", "--optimizer", "o.json"])
    }

    // MARK: The documents

    /// The commands of README.md and of every docs/*.md, in that order, in one scratch directory:
    /// docs/usage.md evaluates the optimizer of the quick start's job, for instance.
    func testREADMEAndDocsExamplesRun() throws {
        try DistributedTrain.requireMPIRun()
        let docs = try FileManager.default.contentsOfDirectory(atPath: Self.packageRoot.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.sorted().map { "docs/\($0)" }
        XCTAssertTrue(docs.contains("docs/usage.md") && docs.contains("docs/results.md"), "\(docs)")
        try check(documents: ["README.md"] + docs)
    }

    /// The usage lines of the launch scripts' and the hostfiles' headers.
    func testLaunchScriptAndHostfileHeadersRun() throws {
        try DistributedTrain.requireMPIRun()
        let fm = FileManager.default
        let launch = try fm.contentsOfDirectory(atPath: Self.packageRoot.appendingPathComponent("launch").path)
            .filter { $0.hasSuffix(".sh") || $0.hasSuffix(".sbatch") }.sorted().map { "launch/\($0)" }
        let hosts = try fm.contentsOfDirectory(atPath: Self.packageRoot.appendingPathComponent("hosts").path)
            .sorted().map { "hosts/\($0)" }
        XCTAssertTrue(launch.contains("launch/slurm.sbatch") && launch.contains("launch/local.sh"), "\(launch)")
        XCTAssertTrue(hosts.contains("hosts/localhost"), "hosts/localhost, the one-machine hostfile, is missing")
        try check(documents: launch + hosts)
    }

    // MARK: Running them

    private func check(documents: [String]) throws {
        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let wrapper = try Examples.writeWrapper(into: scratch)
        let binary = try MPIJob.binaryURL()
        var matchedEntries = Set<Int>()
        var quickStartRuns: URL?
        // The stand-in links the checkout's directories, so a command that writes into one of them
        // (an optimizer file copied into optimizers/, say) would change the checkout itself.
        var checkoutStatus = try Self.checkoutStatus()
        for document in documents {
            let url = Self.packageRoot.appendingPathComponent(document)
            let text = try String(contentsOf: url, encoding: .utf8)
            let commands: [Examples.Command]
            if document.hasSuffix(".md") {
                let (found, problems) = Examples.fromMarkdown(text, file: document)
                for problem in problems {
                    fail(url.path, problem.line, problem.message)
                }
                commands = found
            } else {
                commands = Examples.fromHeader(text, file: document)
            }
            let directory = scratch.appendingPathComponent(document.replacingOccurrences(of: "/", with: "_"))
            let namesDocs = commands.contains { $0.kind == .run && $0.text.contains("docs/") }
            try Examples.prepareScratch(directory, linking: Self.packageRoot, copyingDocs: namesDocs)
            if document.hasPrefix("docs/"), let quickStartRuns {
                try FileManager.default.copyItem(at: quickStartRuns, to: directory.appendingPathComponent("runs"))
            }
            if document == "README.md" { quickStartRuns = directory.appendingPathComponent("runs") }
            let log = directory.appendingPathComponent("wrapper.log")
            var environment = ProcessInfo.processInfo.environment
            environment["PATH"] = wrapper.deletingLastPathComponent().path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
            environment["METAOPT_BIN"] = wrapper.path
            environment["METAOPT_EXAMPLES_BINARY"] = binary.path
            environment["METAOPT_EXAMPLES_LOG"] = log.path
            environment["NP"] = "2"
            environment["METAOPT_SETUP_NO_BUILD"] = "1"

            var prelude: [String] = []
            var block = -1
            var counts = (run: 0, illustrative: 0, synopsis: 0)
            var seconds = 0.0
            for command in commands {
                if command.block != block {
                    block = command.block
                    prelude = []
                }
                var kind = command.kind
                if kind == .run || kind == .synopsis,
                   let index = Self.illustrative.indices.first(where: { i in
                       let entry = Self.illustrative[i]
                       return entry.file == document && (entry.command.map { command.text.contains($0) } ?? true)
                   }) {
                    matchedEntries.insert(index)
                    kind = .illustrative(Self.illustrative[index].reason)
                }
                let label: String
                switch kind {
                case .run: label = "run"
                case .assignments: label = "set"
                case .synopsis: label = "synopsis"
                case .illustrative: label = "illustrative"
                }
                print("  \(document):\(command.line) \(label): \(command.text.prefix(100))")
                switch kind {
                case .illustrative:
                    counts.illustrative += 1
                case .assignments:
                    prelude.append(command.text)
                case .synopsis:
                    counts.synopsis += 1
                    if let problem = try Examples.checkSynopsis(command.text, root: Self.packageRoot, binary: binary) {
                        fail(url.path, command.line, "synopsis `\(command.text)`: \(problem)")
                    }
                case .run:
                    counts.run += 1
                    let substituted = Examples.substitute(command.text)
                    try? FileManager.default.removeItem(at: log)
                    let script = "cd \"$1\" || exit 90\n" + prelude.joined(separator: "\n") + "\n" + substituted + "\n"
                    // (the stand-in's path as the working directory: the launch scripts cd to
                    // launch/.. , which is the stand-in again through its link)
                    let result = try MPIJob.runProcess(
                        executable: URL(fileURLWithPath: "/bin/bash"),
                        arguments: ["-c", script, "bash", directory.path],
                        timeout: Self.commandTimeout, environment: environment)
                    seconds += result.seconds
                    if result.status != 0 {
                        let passed = (try? String(contentsOf: log, encoding: .utf8)) ?? "(metaopt-dist was not started)\n"
                        fail(url.path, command.line, """
                            example failed with status \(result.status)\(result.timedOut ? " (timed out)" : "") after \
                            \(String(format: "%.1f", result.seconds)) s
                            as written: \(command.text)
                            as run:     \(substituted)
                            metaopt-dist as started by the wrapper:
                            \(passed)--- end of stdout ---
                            \(Examples.tail(result.stdout))
                            --- end of stderr ---
                            \(Examples.tail(result.stderr))
                            """)
                    }
                }
            }
            print("ExamplesTests: \(document): \(counts.run) ran (\(String(format: "%.1f", seconds)) s), "
                  + "\(counts.illustrative) illustrative, \(counts.synopsis) synopses")
            let status = try Self.checkoutStatus()
            if status != checkoutStatus {
                XCTFail("""
                    \(document): its commands changed the checkout (they write through the stand-in's links; \
                    mark such a command illustrative or write elsewhere). git status --porcelain before:
                    \(checkoutStatus ?? "")after:
                    \(status ?? "")
                    """)
                checkoutStatus = status
            }
        }
        // Entries of the illustrative list for these documents must still match a command.
        for (index, entry) in Self.illustrative.enumerated()
        where documents.contains(entry.file) && !matchedEntries.contains(index) {
            XCTFail("ExamplesTests.illustrative: no command of \(entry.file) matches \(entry.command ?? "(any)"); remove the entry")
        }
    }

    /// `git status --porcelain` of the checkout (tracked changes and untracked files), or nil where
    /// the checkout is not a git work tree or git is missing (a source archive, say).
    static func checkoutStatus() throws -> String? {
        let result = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/usr/bin/env"),
                                           arguments: ["git", "-C", packageRoot.path, "status", "--porcelain"],
                                           timeout: 60)
        return result.status == 0 ? result.stdout : nil
    }

    private func fail(_ path: String, _ line: Int, _ message: String) {
        #if canImport(Darwin)
        XCTFail("\(path):\(line): \(message)")
        #else
        recordFailure(withDescription: message, inFile: path, atLine: line, expected: true)
        #endif
    }
}

/// Finding the commands in documents and the rule that shrinks them (see ExamplesTests).
enum Examples {
    enum Kind: Equatable {
        case run
        case assignments
        case synopsis
        case illustrative(String)
    }

    struct Command {
        var file: String
        var line: Int
        /// The command with continuation lines joined and comments removed.
        var text: String
        var kind: Kind
        /// Fenced block (Markdown) or header (0) it came from.
        var block: Int
    }

    struct Problem {
        var line: Int
        var message: String
    }

    /// Words a usage line (or a command in an untagged block) starts with.
    static let commandWords: Set<String> = [
        "bash", "sh", "sbatch", "srun", "mpirun", "metaopt-dist", ".build/release/metaopt-dist",
        ".build/debug/metaopt-dist", "printf", "swift", "taskset", "env",
    ]

    // MARK: Extraction

    static func fromMarkdown(_ text: String, file: String) -> ([Command], [Problem]) {
        let lines = text.components(separatedBy: "\n")
        var commands: [Command] = []
        var problems: [Problem] = []
        var index = 0
        var block = 0
        while index < lines.count {
            let trimmed = lines[index].trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("```") else {
                index += 1
                continue
            }
            let language = trimmed.dropFirst(3).split(separator: " ").first.map { $0.lowercased() } ?? ""
            let start = index + 1
            var end = start
            while end < lines.count, !lines[end].trimmingCharacters(in: .whitespaces).hasPrefix("```") { end += 1 }
            let body = Array(lines[start..<min(end, lines.count)])
            index = end + 1
            block += 1
            if language == "sh" || language == "bash" {
                commands += parse(body, firstLine: start + 1, file: file, block: block, blockMarkers: true)
            } else if language.isEmpty,
                      let first = body.first(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }),
                      isCommand(first) {
                problems.append(Problem(line: start + 1, message:
                    "a fenced block without a language holds commands (`\(first.trimmingCharacters(in: .whitespaces))`): tag it ```sh so that the examples test runs it"))
            }
        }
        return (commands, problems)
    }

    /// The usage lines of the leading comment block of a script or hostfile.
    static func fromHeader(_ text: String, file: String) -> [Command] {
        var header: [(line: Int, text: String)] = []
        for (offset, line) in text.components(separatedBy: "\n").enumerated() {
            if offset == 0, line.hasPrefix("#!") { continue }
            guard line.hasPrefix("#") else { break }
            header.append((offset + 1, String(line.dropFirst())))
        }
        var commands: [Command] = []
        var index = 0
        while index < header.count {
            let (number, content) = header[index]
            index += 1
            guard content.hasPrefix("  "), isCommand(content) else { continue }
            var (code, comment) = splitComment(content)
            while code.hasSuffix("\\"), index < header.count {
                let (more, moreComment) = splitComment(header[index].text)
                code = String(code.dropLast()) + " " + more.trimmingCharacters(in: .whitespaces)
                if let moreComment { comment = (comment.map { $0 + " " } ?? "") + moreComment }
                index += 1
            }
            commands.append(classify(code, comment: comment, file: file, line: number, block: 0))
        }
        return commands
    }

    private static func parse(_ body: [String], firstLine: Int, file: String, block: Int, blockMarkers: Bool) -> [Command] {
        var commands: [Command] = []
        var blockMarker: String?
        var index = 0
        var seenCommand = false
        while index < body.count {
            let number = firstLine + index
            let line = body[index].trimmingCharacters(in: .whitespaces)
            index += 1
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let comment = line.dropFirst().trimmingCharacters(in: .whitespaces)
                if !seenCommand, blockMarker == nil, comment.lowercased().hasPrefix("illustrative") {
                    blockMarker = comment
                }
                continue
            }
            seenCommand = true
            var (code, comment) = splitComment(line)
            while code.hasSuffix("\\"), index < body.count {
                let (more, moreComment) = splitComment(body[index].trimmingCharacters(in: .whitespaces))
                code = String(code.dropLast()) + " " + more
                if let moreComment { comment = (comment.map { $0 + " " } ?? "") + moreComment }
                index += 1
            }
            var command = classify(code, comment: comment, file: file, line: number, block: block)
            if let blockMarker { command.kind = .illustrative(blockMarker) }
            commands.append(command)
        }
        return commands
    }

    private static func classify(_ code: String, comment: String?, file: String, line: Int, block: Int) -> Command {
        let text = code.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        let kind: Kind
        if let comment, comment.lowercased().contains("illustrative") {
            kind = .illustrative(comment)
        } else if isSynopsis(text) {
            kind = .synopsis
        } else if words(text).allSatisfy(isAssignment) {
            kind = .assignments
        } else {
            kind = .run
        }
        return Command(file: file, line: line, text: text, kind: kind, block: block)
    }

    /// Whether a line starts (after `VAR=value` words) with a command word.
    static func isCommand(_ line: String) -> Bool {
        guard let first = words(line).first(where: { !isAssignment($0) }) else { return false }
        return commandWords.contains(first)
    }

    /// The code and the trailing comment (text after a `#` that starts a word outside quotes).
    static func splitComment(_ line: String) -> (code: String, comment: String?) {
        var quote: Character?
        var previous: Character = " "
        for index in line.indices {
            let c = line[index]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "#", previous == " " || previous == "\t" {
                let code = String(line[..<index]).trimmingCharacters(in: .whitespaces)
                let comment = String(line[line.index(after: index)...]).trimmingCharacters(in: .whitespaces)
                return (code, comment)
            }
            previous = c
        }
        return (line.trimmingCharacters(in: .whitespaces), nil)
    }

    static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    static func isAssignment(_ word: String) -> Bool {
        guard let equals = word.firstIndex(of: "="), equals != word.startIndex else { return false }
        return word[..<equals].allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && !word.hasPrefix("-")
    }

    /// Signal names and other upper-case words that are values, not placeholders.
    static let upperCaseValues: Set<String> = ["TERM", "INT", "HUP", "KILL", "QUIT", "USR", "ALL"]

    /// A form rather than a command: `[optional parts]` or upper-case placeholders.
    static func isSynopsis(_ text: String) -> Bool {
        if text.contains("[") && text.contains("]") { return true }
        let list = words(text)
        for (index, word) in list.enumerated() where !isAssignment(word) {
            // mpirun -x NAME: a variable's name, not a placeholder.
            if index > 0, list[index - 1] == "-x" { continue }
            var bare = Substring(word)
            for suffix in ["...", "…"] where bare.hasSuffix(suffix) { bare = bare.dropLast(suffix.count) }
            if !bare.isEmpty, bare.allSatisfy({ ($0.isUppercase && $0.isLetter) || $0 == "_" }),
               bare.first!.isLetter, !upperCaseValues.contains(String(bare)) {
                return true
            }
        }
        return false
    }

    /// What is wrong with a synopsis: the script it names is missing, or `metaopt-dist help SUB`
    /// fails. Nil when nothing is.
    static func checkSynopsis(_ text: String, root: URL, binary: URL) throws -> String? {
        let list = words(text).filter { !isAssignment($0) }
        guard let first = list.first else { return nil }
        if ["bash", "sh", "sbatch"].contains(first) {
            guard let script = list.dropFirst().first(where: { !$0.hasPrefix("-") }) else {
                return "names no script"
            }
            if !FileManager.default.fileExists(atPath: root.appendingPathComponent(script).path) {
                return "no script \(script)"
            }
        } else if first.hasSuffix("metaopt-dist"), list.count > 1,
                  let sub = list.dropFirst().first, sub.first?.isLowercase == true {
            let result = try MPIJob.runProcess(executable: binary, arguments: ["help", sub], timeout: 30)
            if result.status != 0 { return "`metaopt-dist help \(sub)` failed: \(result)" }
        }
        return nil
    }

    // MARK: The substitution rule

    /// Rule 1: ranks, sbatch and the binary's path.
    static func substitute(_ text: String) -> String {
        var text = text
        func replace(_ pattern: String, _ template: String) {
            let regex = try! NSRegularExpression(pattern: pattern)
            text = regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text),
                                                  withTemplate: template)
        }
        replace(#"(^|\s)(-np|-n|--np)\s+[0-9]+(?=\s|$)"#, "$1$2 2")
        replace(#"(^|\s)NP=[0-9]+(?=\s)"#, "$1NP=2")
        replace(#"(^|\s|[;&|(])sbatch(\s+-[^\s]+)*\s+"#, "$1bash ")
        replace(#"(^|\s|[;&|(])(\./)?\.build/(release|debug)/metaopt-dist(?=\s|$)"#, "$1metaopt-dist")
        return text
    }

    /// Rule 3: the `metaopt-dist` the examples run.
    static let wrapperScript = #"""
        #!/usr/bin/env bash
        # metaopt-dist as ExamplesTests runs the documentation's commands
        # (Tests/MultiRankTests/ExamplesTests.swift): sizes shrunk; run from the examples' stand-in of the
        # repository root (recipes/ there).
        set -eu
        args=("$@")
        sub=train
        if (($# > 0)) && [[ "$1" != -* ]]; then sub="$1"; fi
        has() {
            local a
            for a in "${args[@]}"; do [[ "$a" == "$1" || "$a" == "$1="* ]] && return 0; done
            return 1
        }
        # The value of OPTION (--opt V or --opt=V), or nothing.
        value() {
            local i
            for ((i = 0; i < ${#args[@]}; i++)); do
                if [[ "${args[i]}" == "$1" ]] && ((i + 1 < ${#args[@]})); then echo "${args[i + 1]}"; return; fi
                if [[ "${args[i]}" == "$1="* ]]; then echo "${args[i]#*=}"; return; fi
            done
        }
        # The task: --task, else the run file's, else the recipe's, else the default (quadratic).
        task() {
            local file name
            name="$(value --task)"
            for file in "$(value --config)" "recipes/$(value --recipe).json"; do
                [[ -z "$name" && -f "$file" ]] &&
                    name="$(sed -nE 's/.*"task"[[:space:]]*:[[:space:]]*"([^"]*)".*/\1/p' "$file" | head -n 1)"
            done
            echo "${name:-quadratic}"
        }
        # Whether the run validates: --validate-every other than 0, or a number other than 0 for it
        # in the run file or the recipe, or else the task's default (the quadratics validate).
        validates() {
            if has --validate-every; then [[ "$(value --validate-every)" != 0 ]]; return; fi
            local file
            for file in "$(value --config)" "recipes/$(value --recipe).json"; do
                [[ -f "$file" ]] && grep -Eq '"validate-every"[[:space:]]*:[[:space:]]*0([^.0-9]|$)' "$file" && return 1
                [[ -f "$file" ]] && grep -Eq '"validate-every"[[:space:]]*:[[:space:]]*[1-9]' "$file" && return 0
            done
            [[ "$(task)" == quadratic ]]
        }
        # OPTION VALUE: replace the value of OPTION (--opt V or --opt=V), or add the option.
        shrink() {
            local i found=0
            for ((i = 0; i < ${#args[@]}; i++)); do
                if [[ "${args[i]}" == "$1" ]] && ((i + 1 < ${#args[@]})); then
                    args[i + 1]="$2"; found=1
                elif [[ "${args[i]}" == "$1="* ]]; then
                    args[i]="$1=$2"; found=1
                fi
            done
            if ((found == 0)); then args+=("$1" "$2"); fi
        }
        case "$sub" in
            train)
                shrink --iterations 2; shrink --unroll 5; shrink --horizon 10
                if validates; then shrink --validate-every 2; shrink --validation-functions 2; fi ;;
            evaluate)
                shrink --functions 2; shrink --steps 5
                # --baselines none tunes nothing, and refuses --tuning-functions.
                if [[ "$(value --baselines)" != none ]]; then shrink --tuning-functions 1; fi ;;
            bench)
                shrink --repetitions 1; shrink --warmup 0
                # The -step workloads time one optimizee step: bench refuses the meta-iteration's options.
                if [[ "$(value --task)" != *-step ]]; then
                    shrink --evaluation-steps 5; shrink --evaluation-repetitions 1; shrink --gemm-repetitions 0
                fi ;;
        esac
        if [[ -n "${METAOPT_EXAMPLES_LOG:-}" && "${OMPI_COMM_WORLD_RANK:-0}" == 0 ]]; then
            { printf 'metaopt-dist'; printf ' %q' "${args[@]}"; printf '\n'; } >> "$METAOPT_EXAMPLES_LOG"
        fi
        exec "$METAOPT_EXAMPLES_BINARY" "${args[@]}"
        """#

    /// Writes the wrapper as DIRECTORY/bin/metaopt-dist and returns its URL.
    static func writeWrapper(into directory: URL) throws -> URL {
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let wrapper = bin.appendingPathComponent("metaopt-dist")
        try wrapperScript.write(to: wrapper, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
        return wrapper
    }

    /// A stand-in of the checkout: its top-level entries linked in, except runs/, docs/ and hidden
    /// ones; docs/ copied when `copyingDocs` (commands that read docs/results/... and write over
    /// it, as evaluate --out docs/results/NAME does).
    static func prepareScratch(_ directory: URL, linking root: URL, copyingDocs: Bool) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        for entry in try fm.contentsOfDirectory(atPath: root.path)
        where !entry.hasPrefix(".") && entry != "runs" && entry != "docs" {
            try fm.createSymbolicLink(at: directory.appendingPathComponent(entry),
                                      withDestinationURL: root.appendingPathComponent(entry))
        }
        if copyingDocs {
            try fm.copyItem(at: root.appendingPathComponent("docs"), to: directory.appendingPathComponent("docs"))
        }
    }

    static func tail(_ text: String, lines: Int = 30) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
