import Foundation
import XCTest
@testable import MetaOpt
#if canImport(Glibc)
import Glibc
#endif

/// Durable writes replace only what they should (#20 finding 1, 8): a regular file or a missing
/// path; a symbolic link is followed to its regular file; directories, FIFOs, devices and dangling
/// links are refused and left as they were; a name near the limit still writes; the start-up
/// check refuses what the write would refuse, before any work.
final class WriteTargetTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("write-target-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func fileType(_ path: String) -> mode_t {
        var st = stat()
        XCTAssertEqual(lstat(path, &st), 0, path)
        return st.st_mode & S_IFMT
    }

    func refused(_ target: String, _ fragment: String, line: UInt = #line) {
        do {
            try ResultFile.writeAtomically("new\n", to: URL(fileURLWithPath: target))
            XCTFail("\(target): written", line: line)
        } catch {
            XCTAssertTrue("\(error)".contains(fragment), "'\(error)' lacks '\(fragment)'", line: line)
        }
        do {
            try FileIO.checkWritable(target)
            XCTFail("\(target): start-up check passed", line: line)
        } catch {
            XCTAssertTrue("\(error)".contains(fragment), "'\(error)' lacks '\(fragment)'", line: line)
        }
    }

    func testASymbolicLinkIsFollowedToItsFile() throws {
        let target = path("target.json"), link = path("link.json")
        try "old\n".write(toFile: target, atomically: false, encoding: .utf8)
        XCTAssertEqual(symlink("target.json", link), 0)
        try FileIO.checkWritable(link)
        try ResultFile.writeAtomically("new\n", to: URL(fileURLWithPath: link))
        XCTAssertEqual(fileType(link), S_IFLNK, "the link stays a link")
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "new\n", "the file it points to is replaced")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted(), ["link.json", "target.json"])
    }

    /// evaluate's four files are written whole or not at all: a target that cannot be written
    /// (here a directory; on a full disk, the data) leaves every file of the set as it was and
    /// no temporary file behind. They used to be written one by one, so a failure left the new
    /// report.json beside an earlier evaluation's plot and summary.
    func testASetOfFilesIsWrittenWholeOrNotAtAll() throws {
        for name in ["report.json", "summary.md", "target.csv"] {
            try "old \(name)\n".write(toFile: path(name), atomically: false, encoding: .utf8)
        }
        XCTAssertEqual(symlink("target.csv", path("link.csv")), 0)
        try FileManager.default.createDirectory(atPath: path("loss.svg"), withIntermediateDirectories: false)
        func set(_ names: [String]) -> [(data: Data, url: URL)] {
            names.map { (Data("new \($0)\n".utf8), URL(fileURLWithPath: path($0))) }
        }
        XCTAssertThrowsError(try ResultFile.writeAllAtomically(set(["report.json", "link.csv", "loss.svg", "summary.md"]))) {
            XCTAssertTrue("\($0)".contains("loss.svg"), "\($0)")
        }
        for name in ["report.json", "summary.md", "target.csv"] {
            XCTAssertEqual(try String(contentsOfFile: path(name), encoding: .utf8), "old \(name)\n", name)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted(),
                       ["link.csv", "loss.svg", "report.json", "summary.md", "target.csv"])
        // Without the directory in the way, all are replaced (a link's file, as writeAtomically does).
        try ResultFile.writeAllAtomically(set(["report.json", "link.csv", "summary.md", "new/plot.svg"]))
        XCTAssertEqual(try String(contentsOfFile: path("report.json"), encoding: .utf8), "new report.json\n")
        XCTAssertEqual(try String(contentsOfFile: path("target.csv"), encoding: .utf8), "new link.csv\n")
        XCTAssertEqual(fileType(path("link.csv")), S_IFLNK)
        XCTAssertEqual(try String(contentsOfFile: path("new/plot.svg"), encoding: .utf8), "new new/plot.svg\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted(),
                       ["link.csv", "loss.svg", "new", "report.json", "summary.md", "target.csv"])
    }

    /// A killed evaluate or export left its hidden temporary files in --out, and nothing removed
    /// them (120 kills: 23 files, 6.6 MB): the next successful write of the same files removes
    /// those of processes that are gone, once they are older than any write takes, and keeps
    /// those of a live process, recent ones (another host's writer) and those of other files.
    func testAWriteRemovesTheTemporariesThatKilledWritesOfItsFilesLeft() throws {
        // Beyond any pid_max (2^22): no such process.
        let gone = ".report.json.tmp-999999999-0000000001", live = ".report.json.tmp-\(getpid())-0000000002"
        let otherFile = ".notes.txt.tmp-999999999-0000000003", unlike = ".report.json.tmp-999999999-12"
        let recent = ".report.json.tmp-999999998-0000000004"
        let old = Date(timeIntervalSinceNow: -ResultFile.staleTemporaryAge - 60)
        for name in [gone, live, otherFile, unlike, recent] {
            XCTAssertTrue(FileManager.default.createFile(atPath: path(name), contents: Data("x".utf8)))
            if name != recent { try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path(name)) }
        }
        try ResultFile.writeAllAtomically([(Data("{}".utf8), scratch.appendingPathComponent("report.json"))])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted(),
                       [live, otherFile, unlike, recent, "report.json"].sorted())
    }

    /// A link to a directory not made yet names the files that will be in it: `train --output
    /// link/metrics.jsonl --run-dir run` with link → run wrote the optimizer over the new run's
    /// metrics.jsonl, because a dangling link was taken for a missing name and not followed.
    func testADanglingLinkIsFollowedToWhereItPoints() throws {
        XCTAssertEqual(symlink("run", path("link")), 0)
        XCTAssertEqual(symlink(path("link"), path("link-to-link")), 0)
        let file = URL(fileURLWithPath: path("run/metrics.jsonl"))
        for alias in ["link/metrics.jsonl", "link-to-link/metrics.jsonl", "link/./sub/../metrics.jsonl"] {
            XCTAssertTrue(FilePaths.same(URL(fileURLWithPath: path(alias)), file), alias)
        }
        XCTAssertFalse(FilePaths.same(URL(fileURLWithPath: path("link/other.jsonl")), file))
        // A loop of links ends (the kernel's limit of 40), naming no file in particular.
        XCTAssertEqual(symlink("loop-b", path("loop-a")), 0)
        XCTAssertEqual(symlink("loop-a", path("loop-b")), 0)
        XCTAssertFalse(FilePaths.same(URL(fileURLWithPath: path("loop-a/x")), file))
    }

    /// A directory to make (a --run-dir) that is a link to a missing path is named as one, a
    /// refusal that a restart would meet again (it said "stat failed: No such file or directory"
    /// of the link, which exists, and ended with status 1).
    func testADanglingLinkWhereADirectoryIsToBeMadeIsNamed() throws {
        XCTAssertEqual(symlink(path("missing/run"), path("run-link")), 0)
        XCTAssertThrowsError(try FileIO.makeDirectory(path("run-link"))) { error in
            XCTAssertEqual("\(error)", "\(path("run-link")): a symbolic link to \(path("missing/run")), which leads nowhere")
            XCTAssertTrue(TrainingRun.writeRefusalRepeats(error))
        }
        // A file below it: the start-up check says so before any work (the write failed after
        // the training with Foundation's "a file with the same name already exists", status 1).
        XCTAssertEqual(symlink("missing/run", path("relative-link")), 0)
        refused(path("relative-link/o.json"), "relative-link: a symbolic link to missing/run (relative to the link's folder), which leads nowhere")
    }

    /// The kernel reads `link/..` as the parent of the link's target, not as the folder holding
    /// the link: `export --output link/../a/o.json` wrote over another file than the one named.
    func testALinkFollowedByDotDotIsTheTargetsParent() throws {
        for folder in ["a", "deep/x", "deep/a"] {
            try FileManager.default.createDirectory(atPath: path(folder), withIntermediateDirectories: true)
        }
        XCTAssertEqual(symlink("deep/x", path("link")), 0)
        XCTAssertTrue(FilePaths.same(URL(fileURLWithPath: path("link/../a/o.json")), URL(fileURLWithPath: path("deep/a/o.json"))))
        XCTAssertFalse(FilePaths.same(URL(fileURLWithPath: path("link/../a/o.json")), URL(fileURLWithPath: path("a/o.json"))))
        XCTAssertEqual(FilePaths.canonical(URL(fileURLWithPath: path("link/.."))), FilePaths.canonical(URL(fileURLWithPath: path("deep"))))
    }

    /// Linux keeps "é" as one code point and as e + combining accent as two names; Swift's `==`
    /// on strings calls them equal, and export refused to write one beside the other.
    func testNamesThatDifferOnlyInUnicodeNormalisationAreDifferentFiles() {
        let composed = path("caf\u{E9}.json"), decomposed = path("cafe\u{301}.json")
        XCTAssertFalse(FilePaths.same(URL(fileURLWithPath: composed), URL(fileURLWithPath: decomposed)))
        XCTAssertTrue(FilePaths.same(URL(fileURLWithPath: composed), URL(fileURLWithPath: composed)))
    }

    /// Paths past 1,024 bytes resolve too (Foundation's resolvingSymlinksInPath stops there: a
    /// run directory of exactly 1,024 bytes made plot take its output for its input).
    func testLongPathsResolve() throws {
        var deep = scratch!
        while deep.path.utf8.count < 1_100 { deep.appendPathComponent(String(repeating: "d", count: 200)) }
        try FileManager.default.createDirectory(at: deep, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(deep.path, path("short")), 0)
        let viaLink = URL(fileURLWithPath: path("short/metrics.jsonl")), direct = deep.appendingPathComponent("metrics.jsonl")
        XCTAssertTrue(FilePaths.same(viaLink, direct))
        XCTAssertFalse(FilePaths.same(viaLink, deep.appendingPathComponent("plot.svg")))
        XCTAssertEqual(FilePaths.canonical(viaLink), direct.path)
    }

    /// /dev/stdout of a pipe (`export --output /dev/stdout | cat`) is a link to "pipe:[…]", which
    /// no path names: refused as a link to an open descriptor, not "to a missing file".
    func testALinkToAPipeIsNamedAsOne() throws {
        var ends: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&ends), 0)
        defer { close(ends[0]); close(ends[1]) }
        let link = path("stdout")
        XCTAssertEqual(symlink("/proc/self/fd/\(ends[1])", link), 0)
        refused(link, "leads to an open file of this process")
    }

    /// `bench --json /dev/stdout >> log` renamed the JSON over the file the stream was redirected
    /// to (the kernel's link /proc/self/fd/1 names it): the log's earlier lines were gone. Every
    /// way to such a link is refused, and the file behind it is left as it was.
    func testALinkToAnOpenDescriptorIsRefusedAndItsFileKept() throws {
        let log = path("log")
        try "earlier lines\n".write(toFile: log, atomically: false, encoding: .utf8)
        let fd = open(log, O_WRONLY | O_APPEND)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let userLink = path("to-fd")
        XCTAssertEqual(symlink("/dev/fd/\(fd)", userLink), 0)
        for target in ["/proc/self/fd/\(fd)", "/dev/fd/\(fd)", "/proc/\(getpid())/fd/\(fd)", userLink] {
            refused(target, "leads to an open file of this process")
        }
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8), "earlier lines\n")
    }

    /// `--output out/` wrote a file named out (URL's path drops the slash); a trailing slash names
    /// a directory and is refused, creating nothing.
    func testATrailingSlashIsRefused() throws {
        let url = FilePaths.url(path("out") + "/")
        XCTAssertThrowsError(try ResultFile.checkWritable(url)) { XCTAssertTrue("\($0)".contains("ends in \"/\", which names a directory"), "\($0)") }
        XCTAssertThrowsError(try ResultFile.writeAtomically("x", to: url)) { XCTAssertTrue("\($0)".contains("names a directory"), "\($0)") }
        XCTAssertThrowsError(try FileIO.writeTarget(path("out") + "/"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")))
    }

    /// A replaced file was written anew with 0644: a file its owner had made private became
    /// readable by all. Both writers keep the mode.
    func testAReplacedFileKeepsItsMode() throws {
        let file = path("private.json")
        for write in [{ try ResultFile.writeAtomically("new\n", to: URL(fileURLWithPath: file)) },
                      { try FileIO.replaceDurably(file, with: Array("new\n".utf8), temporary: self.path(".private.json.tmp")) }] {
            try "old\n".write(toFile: file, atomically: false, encoding: .utf8)
            XCTAssertEqual(chmod(file, 0o640), 0)
            try write()
            var st = stat()
            XCTAssertEqual(stat(file, &st), 0)
            XCTAssertEqual(st.st_mode & 0o7777, 0o640)
            XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "new\n")
        }
    }

    /// New files and directories (a result file, a run's lock and its folders) take 0666 and 0777
    /// less the umask: with umask 002 a group can resume a shared run. They were 0644 and 0755
    /// whatever the umask.
    func testNewFilesAndDirectoriesFollowTheUmask() throws {
        let old = umask(0o002)
        defer { umask(old) }
        let file = path("a/b/result.json"), run = path("run")
        try ResultFile.writeAtomically("new\n", to: URL(fileURLWithPath: file))
        try FileIO.makeDirectory(path("a/b/c"))
        let lock = try RunLock(directory: run)
        defer { _ = lock }
        func mode(_ path: String) -> mode_t {
            var st = stat()
            XCTAssertEqual(stat(path, &st), 0, path)
            return st.st_mode & 0o7777
        }
        XCTAssertEqual(mode(file), 0o664)
        XCTAssertEqual(mode(path("a/b/c")), 0o775)
        XCTAssertEqual(mode(run), 0o775)
        let files = try FileManager.default.contentsOfDirectory(atPath: run)
        XCTAssertFalse(files.isEmpty)
        for name in files { XCTAssertEqual(mode(run + "/" + name), 0o664, name) }
    }

    /// A full disk named the temporary file ("cannot write …/.x.json.tmp-123-…"), which is gone by
    /// then: the message names the file asked for. A file size limit (RLIMIT_FSIZE) makes the
    /// write fail here as a full disk would.
    func testAFailedWriteNamesTheFileNotItsTemporary() throws {
        var old = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old), 0)
        let ignored = signal(SIGXFSZ, SIG_IGN)
        var small = old
        small.rlim_cur = 16
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &small), 0)
        defer { _ = setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old); signal(SIGXFSZ, ignored) }
        let big = String(repeating: "x", count: 100)
        let result = path("result.json"), checkpoint = path("ckpt.mopt")
        XCTAssertThrowsError(try ResultFile.writeAtomically(big, to: URL(fileURLWithPath: result))) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot write \(result): "), "\(error)")
        }
        XCTAssertThrowsError(try FileIO.replaceDurably(checkpoint, with: Array(big.utf8), temporary: path(".ckpt.mopt.1-2.tmp"))) { error in
            XCTAssertEqual((error as? CheckpointError)?.file, checkpoint, "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [], "no temporary file left")
    }

    /// Temporary files of the run's own files that a crash left are recognised by their exact
    /// form and removed; nothing else is.
    func testLeftoverTemporariesOfTheRunsFilesAreRemoved() throws {
        let run = RunDirectory(scratch)
        // Process ids past the kernel's pid_max: no process has them. One of a live process (this
        // one: `plot RUN_DIR` writes plot.svg without the run's lock) is kept.
        let limit = Int((try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 4_194_304
        let leftovers = [".optimizer.json.tmp-\(limit + 1)-0123456789", ".config.json.tmp-\(limit + 2)-4294967295",
                         ".plot.svg.tmp-\(limit + 3)-0000000001",
                         // The logs' rewrites at a resume (they were left, a full copy each time).
                         ".metrics.jsonl.tmp-\(limit + 4)-0123456789", ".validation.jsonl.tmp-\(limit + 5)-0123456789"]
        let kept = [".optimizer.json.tmp-\(limit + 1)-012345678", ".metrics.jsonl.tmp-1-0123456789", "optimizer.json.tmp-1-0123456789",
                    ".optimizer.json.tmp-x-0123456789", "notes.txt", ".plot.svg.tmp-\(getpid())-0123456789"]
        for name in leftovers + kept { try "x".write(toFile: path(name), atomically: false, encoding: .utf8) }
        XCTAssertEqual(Set(run.removeLeftoverTemporaries()), Set(leftovers.map(path)))
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: scratch.path)), Set(kept))
        XCTAssertTrue(FileIO.isTemporaryName(FileIO.temporaryName(for: "best-optimizer.json", suffix: FileIO.temporarySuffix()),
                                             of: "best-optimizer.json"))
    }

    func testNonRegularTargetsAreRefusedAndKept() throws {
        let fifo = path("fifo"), directory = path("directory"), dangling = path("dangling"), toDirectory = path("to-directory")
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        XCTAssertEqual(symlink("missing.json", dangling), 0)
        XCTAssertEqual(symlink("directory", toDirectory), 0)
        refused(fifo, "is a FIFO")
        refused(directory, "is a directory")
        refused(dangling, "symbolic link to a missing file")
        refused(toDirectory, "is a directory")
        // A loop of links is named as one (it was "a link to a missing file").
        let loopA = path("loop-a"), loopB = path("loop-b")
        XCTAssertEqual(symlink("loop-b", loopA), 0)
        XCTAssertEqual(symlink("loop-a", loopB), 0)
        refused(loopA, "is a symbolic link to a loop of links")
        if FileManager.default.fileExists(atPath: "/dev/null") {
            // Only checked, never written: as root a rename would replace the device node.
            XCTAssertThrowsError(try FileIO.checkWritable("/dev/null")) { XCTAssertTrue("\($0)".contains("is a device"), "\($0)") }
            XCTAssertThrowsError(try FileIO.writeTarget("/dev/null"))
        }
        XCTAssertEqual(fileType(fifo), S_IFIFO)
        XCTAssertEqual(fileType(directory), S_IFDIR)
        XCTAssertEqual(fileType(dangling), S_IFLNK)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("missing.json")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted(),
                       ["dangling", "directory", "fifo", "loop-a", "loop-b", "to-directory"], "no temporary file left")
    }

    func testNamesUpToTheLimitWrite() throws {
        // 245 bytes: the temporary name used to be 245 + ".tmp-PID-RANDOM" and exceed 255.
        let long = path(String(repeating: "a", count: 245))
        try FileIO.checkWritable(long)
        try ResultFile.writeAtomically("x\n", to: URL(fileURLWithPath: long))
        XCTAssertEqual(try String(contentsOfFile: long, encoding: .utf8), "x\n")
        let multibyte = path(String(repeating: "é", count: 127))  // 254 bytes
        try ResultFile.writeAtomically("y\n", to: URL(fileURLWithPath: multibyte))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path).count, 2, "no temporary file left")
        XCTAssertThrowsError(try FileIO.checkWritable(path(String(repeating: "b", count: 256))))
        XCTAssertLessThanOrEqual(FileIO.temporaryName(for: String(repeating: "é", count: 127), suffix: ".tmp-1-2").utf8.count, 255)
    }

    /// Two runs starting at once in sibling run directories of a parent that does not exist yet
    /// (`runs/a` and `runs/b`, say the default `runs/TASK` of two tasks): the start-up check of
    /// one must not get in the way of the other's. Its probe used to be a file named like the
    /// missing parent, so the other's probe found it (`create failed: File exists`) or its stat
    /// found a regular file where the directory would go, and that run refused to start.
    func testConcurrentChecksBelowAMissingDirectoryDoNotCollide() throws {
        final class Failures: @unchecked Sendable {
            let lock = NSLock()
            var messages: [String] = []
            func add(_ message: String) { lock.lock(); messages.append(message); lock.unlock() }
        }
        let failures = Failures()
        let targets = [path("runs/a/config.json"), path("runs/b/config.json")]
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for _ in 0 ..< 3000 {
                do {
                    try FileIO.checkWritable(targets[worker])
                } catch {
                    failures.add("\(error)")
                }
            }
        }
        XCTAssertEqual(failures.messages.count, 0, "\(failures.messages.count) checks failed, the first: \(failures.messages.first ?? "")")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [], "the check creates nothing")
    }

    /// A directory in which no file can be created (read-only, no permission): the refusal names
    /// the file to be written and the directory, not the probe's hidden name, which used to make
    /// `RUN/.config.json.tmp-PID-0000000000: create failed: Read-only file system` of a read-only
    /// run directory. /sys refuses new files even to root.
    func testAnUnwritableDirectoryIsNamedWithTheFileNotTheProbe() throws {
        #if os(Linux)
        var st = stat()
        guard stat("/sys", &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { throw XCTSkip("no /sys") }
        XCTAssertThrowsError(try FileIO.checkWritable("/sys/config.json")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("/sys/config.json: creating a file in /sys failed: "), message)
            XCTAssertFalse(message.contains(".tmp-"), message)
        }
        #else
        throw XCTSkip("needs Linux's /sys")
        #endif
    }

    func testTheStartUpCheckLooksAtTheDirectoryItWouldCreate() throws {
        try FileIO.checkWritable(path("new/deeper/file.json"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("new")), "the check creates nothing")
        try "x".write(toFile: path("plain"), atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try FileIO.checkWritable(path("plain/file.json")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), ["plain"])
    }

    /// `evaluate --out results.txt`, `plot --out results.txt/fig.svg`: the check and the write name
    /// the file in the way (they said "lstat failed: Not a directory" of the whole path, and the
    /// write Foundation's "A file with the same name already exists" without a name).
    func testAPathThroughARegularFileNamesThatFile() throws {
        try "x".write(toFile: path("plain"), atomically: false, encoding: .utf8)
        for below in ["plain/report.json", "plain/deeper/fig.svg"] {
            refused(path(below), "\(path("plain")): is a regular file, not a directory: \(path(below)) cannot be created in it")
        }
        XCTAssertEqual(try String(contentsOfFile: path("plain"), encoding: .utf8), "x", "the file is left as it was")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), ["plain"])
    }
}

/// One run per run directory (#20 finding 2): `RunLock` excludes a second holder and names the
/// first; a lock file left by a process that ended does not block.
final class RunLockTests: XCTestCase {
    func testASecondLockIsRefusedWithTheHolderAndFreedOnRelease() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("run-lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var first: RunLock? = try RunLock(directory: dir.path)
        XCTAssertNotNil(first)
        XCTAssertThrowsError(try RunLock(directory: dir.path)) { error in
            guard case let .held(_, holder)? = error as? RunLockError else { return XCTFail("\(error)") }
            XCTAssertTrue(holder.hasPrefix("pid \(getpid()) on host "), holder)
            XCTAssertTrue("\(error)".contains("another train run is using the run directory"), "\(error)")
        }
        first = nil
        XCTAssertNoThrow(try RunLock(directory: dir.path), "released with its holder")
    }

    /// A run directory moved or removed while its run trained split the run's files over two
    /// places (#s36): the lock notices that its file is no longer at the path.
    func testALockNoticesItsDirectoryMoved() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("run-lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let dir = base.appendingPathComponent("run"), moved = base.appendingPathComponent("moved")
        let lock = try RunLock(directory: dir.path)
        XCTAssertNoThrow(try lock.checkInPlace())
        // Removing only the lock file is harmless to the run that holds it.
        try FileManager.default.removeItem(atPath: lock.path)
        XCTAssertNoThrow(try lock.checkInPlace())
        try FileManager.default.moveItem(at: dir, to: moved)
        XCTAssertThrowsError(try lock.checkInPlace()) {
            XCTAssertTrue("\($0)".contains("the run directory was moved, renamed or removed while this run trained"), "\($0)")
            XCTAssertTrue("\($0)".hasSuffix("it is now \(moved.path): resume there with --run-dir \(moved.path)"), "\($0)")
        }
        // Another directory at the old path: not the run's either.
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
        XCTAssertThrowsError(try lock.checkInPlace())
        try FileManager.default.removeItem(at: moved)
        XCTAssertThrowsError(try lock.checkInPlace()) { XCTAssertTrue("\($0)".hasSuffix("it was removed"), "\($0)") }
    }

    func testAStaleLockFileDoesNotBlock() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("run-lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent(RunLock.fileName)
        try "pid 999999 on host gone since 2020-01-01T00:00:00Z\n".write(to: file, atomically: false, encoding: .utf8)
        let lock = try RunLock(directory: dir.path)
        XCTAssertTrue(try String(contentsOf: file, encoding: .utf8).hasPrefix("pid \(getpid()) on host "))
        _ = lock
    }

    /// A lock file that is a symbolic link is not followed, and the refusal says why (it read
    /// "Too many levels of symbolic links").
    func testASymbolicLinkIsNotALock() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("run-lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent(RunLock.fileName).path, withDestinationPath: "elsewhere")
        XCTAssertThrowsError(try RunLock(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("train.lock: is a symbolic link, so it cannot be the run's lock"), "\(error)")
        }
    }
}

/// Resume rules (#20 finding 12): options that do not change the trajectory may change.
final class ResumeCompatibilityTests: XCTestCase {
    func testConsistencyIntervalAndSkipLimitMayChange() {
        let saved = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, unroll: 2, horizon: 4, iterations: 8,
                                   maxConsecutiveSkips: 5, consistencyCheckEvery: 50)
        var current = saved
        current.iterations = 12
        current.maxConsecutiveSkips = 9
        current.consistencyCheckEvery = 3
        XCTAssertEqual(TrainerCheckpoint.compatibilityProblems(saved: saved, current: current), [])
        current.seed = 1
        XCTAssertFalse(TrainerCheckpoint.compatibilityProblems(saved: saved, current: current).isEmpty)
    }

    /// A relative --init-from names its file only from the directory the run started in, which
    /// the checkpoint does not record: a resume from elsewhere is refused saying so (it gave only
    /// the two paths, which named the same file).
    func testARelativeInitFromSaysWhereItIsRelativeTo() throws {
        var saved = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, unroll: 2, horizon: 4)
        saved.initFrom = "metaopt-no-such-init-\(UUID().uuidString).json"
        var current = saved
        current.initFrom = "../" + saved.initFrom!
        let problems = TrainerCheckpoint.compatibilityProblems(saved: saved, current: current)
        XCTAssertEqual(problems.count, 3, "\(problems)")
        XCTAssertTrue(problems.last?.contains("the checkpoint's \(saved.initFrom!) is relative to the directory the run started in") ?? false, "\(problems)")
        current.initFrom = "/elsewhere/init.json"
        saved.initFrom = "/other/init.json"
        XCTAssertEqual(TrainerCheckpoint.compatibilityProblems(saved: saved, current: current).count, 2, "absolute: no hint")
    }

    /// No data directory is Fashion-MNIST's standard location: a refusal says so (it said "none",
    /// though the checkpoint's run read that directory).
    func testADataDirectoryDifferenceNamesTheStandardLocation() {
        let saved = TrainingConfig(task: .image(ImageTaskSpec(architecture: .mlp(MLPArchitecture()))), metaBatch: 4, unroll: 2, horizon: 4)
        var current = saved
        current.task = .image(ImageTaskSpec(architecture: .mlp(MLPArchitecture()), directory: "/usr/share/datasets/../datasets/fashion-mnist"))
        XCTAssertEqual(TrainerCheckpoint.differences(saved: saved, current: current),
                       ["--data-dir /usr/share/datasets/../datasets/fashion-mnist here, the standard location (/usr/share/datasets/fashion-mnist) in the checkpoint"])
    }

    /// A refusal names every setting that differs, by option and with both values (it used to
    /// print the two configurations whole), and what may change. No validation is
    /// `--validate-every 0` for the quadratics, which validate by default.
    func testARefusalNamesEachDifference() {
        let saved = TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, unroll: 2, horizon: 4, iterations: 8,
                                   learningRate: 0.001)
        var current = saved
        current.iterations = 12
        current.learningRate = 0.01
        current.task = .quadratic(dimension: 6)
        current.validation = ValidationConfig(every: 10, functions: 20, seed: 5)
        let problems = TrainerCheckpoint.compatibilityProblems(saved: saved, current: current)
        XCTAssertEqual(problems.first, "the checkpoint was written by a run with another configuration: "
                       + "--dimension 6 here, 4 in the checkpoint; --learning-rate 0.01 here, 0.001 in the checkpoint; "
                       + "--validate-every 10 here, 0 in the checkpoint; --validation-functions 20 here, none in the checkpoint; "
                       + "--validation-seed 5 here, none in the checkpoint")
        XCTAssertEqual(problems.count, 2)
        for option in ["--iterations", "--consistency-every", "--max-skips", "--checkpoint-every", "--keep-checkpoints",
                       "--progress-every", "--output", "--shards", "--collective-timeout", "--max-memory"] {
            XCTAssertTrue(problems[1].contains(option), "\(option) may change: \(problems[1])")
        }
    }

    /// Another --seed alone is one difference: the validation seed that follows it by default is
    /// not reported beside it (it used to be, as a second setting the user never gave); one given
    /// explicitly still is.
    func testADerivedValidationSeedIsNotASecondDifference() {
        func config(seed: UInt64, validationSeed: UInt64? = nil) -> TrainingConfig {
            TrainingConfig(task: .quadratic(dimension: 4), metaBatch: 4, unroll: 2, horizon: 4, iterations: 8, seed: seed,
                           validation: ValidationConfig(every: 4, functions: 3,
                                                        seed: validationSeed ?? ValidationConfig.defaultSeed(trainingSeed: seed)))
        }
        let prefix = "the checkpoint was written by a run with another configuration: "
        XCTAssertEqual(TrainerCheckpoint.compatibilityProblems(saved: config(seed: 1), current: config(seed: 2)).first,
                       prefix + "--seed 2 here, 1 in the checkpoint")
        XCTAssertEqual(TrainerCheckpoint.compatibilityProblems(saved: config(seed: 1), current: config(seed: 2, validationSeed: 7)).first,
                       prefix + "--validation-seed 7 here, 2000004 in the checkpoint; --seed 2 here, 1 in the checkpoint")
        XCTAssertEqual(TrainerCheckpoint.compatibilityProblems(saved: config(seed: 1), current: config(seed: 1, validationSeed: 7)).first,
                       prefix + "--validation-seed 7 here, 2000004 in the checkpoint")
    }
}

/// `--labels` naming a class the data do not hold is refused (#20 finding 12), not trained on the
/// other labels alone.
final class LabelSubsetTests: XCTestCase {
    func testALabelWithoutExamplesIsRefused() {
        let few = imageTestDataset(count: 5, height: 2, width: 2, classes: 10)  // labels 0…4 only
        XCTAssertNoThrow(try ClassificationData(dataset: few, labelSubset: [3, 4]))
        XCTAssertThrowsError(try ClassificationData(dataset: few, labelSubset: [3, 7])) {
            XCTAssertTrue("\($0)".contains("no example of label 7 of subset [3, 7]"), "\($0)")
        }
    }
}
