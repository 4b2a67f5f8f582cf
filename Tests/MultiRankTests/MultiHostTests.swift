import Foundation
import XCTest

/// A real multi-host run without a cluster: two "hosts" made of Linux network namespaces on a
/// private bridge (launch/netns-hosts.sh), Open MPI's daemons started in them by
/// launch/netns-agent.sh instead of ssh, all traffic over TCP on the test subnet. Needs root and
/// iproute2; skipped (with the reason) where namespaces cannot be created.
final class MultiHostTests: XCTestCase {
    private static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    private static let script = packageRoot.appendingPathComponent("launch/netns-hosts.sh")

    /// `ip` lives in /usr/sbin or /sbin, which a test runner's PATH may lack.
    private static var environment: [String: String] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return ["PATH": path + ":/usr/sbin:/sbin"]
    }

    private func netns(_ args: [String]) throws -> MPIJobResult {
        try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/bash"), arguments: [Self.script.path] + args,
                              timeout: 30, environment: Self.environment)
    }

    /// Skips unless this process can create network namespaces.
    private func requireNamespaces() throws {
        guard getuid() == 0 else {
            throw XCTSkip("network namespaces need root (run the tests as root, as CI does)")
        }
        let path = Self.environment["PATH"]!.split(separator: ":")
        guard path.contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/ip") }) else {
            throw XCTSkip("the ip command is missing: install iproute2 (bash launch/setup.sh)")
        }
    }

    /// Names and addresses for this process, so two test runs on one machine do not collide.
    private let prefix = "mh\(getpid() % 10000)"
    private let subnet = "10.99.\(getpid() % 200 + 20)"

    private func hostsFileLines() -> [String] {
        ((try? String(contentsOfFile: "/etc/hosts", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Nothing of `prefix` is left: no namespace, no bridge or veth, no /etc/hosts entry.
    private func leftovers() throws -> [String] {
        var found: [String] = []
        let namespaces = try MPIJob.runProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                               arguments: ["-c", "ip netns list; ip -o link show"],
                                               timeout: 10, environment: Self.environment).stdout
        for line in namespaces.split(separator: "\n") where line.contains("\(prefix)-") {
            found.append(String(line))
        }
        found += hostsFileLines().filter { $0.contains("metaopt-netns:\(prefix)") }
        return found
    }

    /// 4 ranks on 2 namespace hosts (2 each) train to the same φ, optimizer file and checkpoint as
    /// 4 ranks on this host, bit for bit; and the hosts are removed afterwards.
    func testTrainingAcrossTwoNamespaceHostsMatchesOneHost() throws {
        try DistributedTrain.requireMPIRun()
        try requireNamespaces()
        // Registered first: runs however the test ends (the script's `down` is idempotent).
        addTeardownBlock { [prefix] in _ = try? self.netns(["down", prefix]) }

        let up = try netns(["up", "2", prefix, subnet])
        if up.status != 0, up.stderr.contains("Operation not permitted") || up.stderr.contains("Permission denied") {
            throw XCTSkip("cannot create network namespaces here: \(up.stderr)")
        }
        XCTAssertEqual(up.status, 0, "netns-hosts.sh up failed:\n\(up)")
        guard up.status == 0 else { return }
        let hosts = ["\(prefix)-h1", "\(prefix)-h2"]
        XCTAssertEqual(up.stdout.split(separator: "\n").map(String.init),
                       ["\(hosts[0]) \(subnet).11", "\(hosts[1]) \(subnet).12"], "\(up)")
        if FileManager.default.isWritableFile(atPath: "/etc/hosts") {
            XCTAssertEqual(hostsFileLines().filter { $0.contains("metaopt-netns:\(prefix)") }.count, 2)
        }

        // The same prefix cannot be brought up twice (and the refusal leaves the hosts alone).
        let again = try netns(["up", "2", prefix, subnet])
        XCTAssertEqual(again.status, 1, "\(again)")
        XCTAssertTrue(again.stderr.contains("exist already"), "\(again)")

        let scratch = try DistributedTrain.scratchDirectory(for: self)
        let hostfile = scratch.appendingPathComponent("hostfile")
        try hosts.map { "\($0) slots=2\n" }.joined().write(to: hostfile, atomically: true, encoding: .utf8)
        let mpirunArgs = try netns(["mpirun-args", prefix, subnet])
        XCTAssertEqual(mpirunArgs.status, 0, "\(mpirunArgs)")
        let networkArgs = mpirunArgs.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(networkArgs.contains("plm_rsh_agent") && networkArgs.contains("\(subnet).0/24"), "\(networkArgs)")

        let multi = scratch.appendingPathComponent("two-hosts"), single = scratch.appendingPathComponent("one-host")
        let job = try MPIJob.run(
            np: 4,
            args: ["train"] + DistributedTrain.smallJob
                + ["--run-dir", multi.path, "--no-resume", "--consistency-every", "1", "--verbose"],
            timeout: 90,
            extraMPIArgs: ["--hostfile", hostfile.path, "-x", "OPENBLAS_NUM_THREADS", "-x", "PATH"] + networkArgs,
            environment: Self.environment)
        XCTAssertFalse(job.timedOut, "\(job)")
        XCTAssertEqual(job.status, 0, "the two-host job failed:\n\(job)")
        // Ranks 0 and 1 ran on the first host, 2 and 3 on the second (by slot).
        for (rank, host) in [(0, hosts[0]), (1, hosts[0]), (2, hosts[1]), (3, hosts[1])] {
            XCTAssertTrue(job.stderr.contains("[rank \(rank)] debug metaopt-dist: MPI started host=\(host) "),
                          "rank \(rank) not on \(host):\n\(job)")
        }
        guard job.status == 0 else { return }

        let local = try DistributedTrain.train(np: 4, runDirectory: single, extra: ["--consistency-every", "1"])
        XCTAssertEqual(local.status, 0, "the one-host job failed:\n\(local)")
        guard local.status == 0 else { return }
        DistributedTrain.assertIdentical(try DistributedTrain.output(of: single), try DistributedTrain.output(of: multi),
                                         "2 hosts × 2 ranks against 1 host × 4 ranks")

        // Tear down here too, to check that nothing is left.
        let down = try netns(["down", prefix])
        XCTAssertEqual(down.status, 0, "\(down)")
        XCTAssertEqual(try leftovers(), [], "netns-hosts.sh down left these behind")
    }
}
