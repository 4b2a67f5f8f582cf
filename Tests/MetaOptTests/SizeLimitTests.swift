import XCTest
@testable import MetaOpt

/// Every size of a configuration has an upper limit, block counts cannot overflow, and the memory
/// estimate follows the engine's own formula (#20 finding 4). Before the limits, a block size of
/// Int.max gave zero blocks (⌈8 / Int.max⌉ computed as (8 + Int.max − 1) / Int.max, which wraps)
/// and every size here passed `problems()`.
final class SizeLimitTests: XCTestCase {
    func config(_ edit: (inout TrainingConfig) -> Void) -> TrainingConfig {
        var c = TrainingConfig(task: .quadratic(dimension: 10))
        c.metaBatch = 8
        c.blockSize = 2
        c.unroll = 5
        c.horizon = 10
        c.iterations = 4
        edit(&c)
        return c
    }

    func quadratics(_ count: Int, dimension: Int, seed: UInt64) -> [any Optimizee] {
        (0..<count).map { QuadraticOptimizee(dimension: dimension, key: RandomKey(seed: seed, horizon: 0, task: $0)) }
    }

    func assertRefused(_ edit: (inout TrainingConfig) -> Void, saying expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let problems = config(edit).problems()
        XCTAssertTrue(problems.contains { $0.contains(expected) }, "\(problems) should say \"\(expected)\"", file: file, line: line)
    }

    func testHugeBlockSizeMakesOneBlockAndIsRefused() {
        let c = config { $0.blockSize = Int.max }
        XCTAssertEqual(c.blockCount, 1)
        assertRefused({ $0.blockSize = Int.max }, saying: "the block size must be at most")
    }

    func testBlockCountIsUnchangedForUsualSizes() {
        for (batch, block, blocks) in [(8, 2, 4), (9, 2, 5), (1, 1, 1), (128, 16, 8), (7, 16, 1)] {
            XCTAssertEqual(config { $0.metaBatch = batch; $0.blockSize = block }.blockCount, blocks)
        }
    }

    func testEverySizeHasAnUpperLimit() {
        let huge = Int.max
        assertRefused({ $0.metaBatch = huge }, saying: "the meta-batch size must be at most")
        assertRefused({ $0.unroll = huge; $0.horizon = huge }, saying: "the unroll length must be at most")
        assertRefused({ $0.horizon = 5 << 40 }, saying: "the horizon must be at most")
        assertRefused({ $0.iterations = huge }, saying: "the number of iterations must be at most")
        assertRefused({ $0.optimizer.hiddenSizes = [huge, huge] }, saying: "the hidden size must be at most")
        assertRefused({ $0.optimizer.hiddenSizes = Array(repeating: 2, count: 65) }, saying: "the number of LSTM layers must be at most")
        assertRefused({ $0.task = .quadratic(dimension: huge) }, saying: "the quadratic dimension must be at most")
        assertRefused({ $0.task = .rosenbrock(dimension: huge) }, saying: "the Rosenbrock dimension must be at most")
        assertRefused({ $0.consistencyCheckEvery = huge }, saying: "the consistency-check interval must be at most")
        assertRefused({ $0.validation = ValidationConfig(every: 2, functions: huge, seed: 99) },
                      saying: "the number of validation functions must be at most")
        for architecture in [ImageClassificationFamily.Architecture.mlp(.init(hiddenSizes: [huge])),
                             .cnn(.init(convolutionChannels: [huge], fullyConnectedSizes: [32]))] {
            assertRefused({ $0.task = .image(ImageTaskSpec(architecture: architecture)) }, saying: "a layer width or channel count must be at most")
        }
        assertRefused({ $0.task = .image(ImageTaskSpec(architecture: .mlp(.init(hiddenSizes: [20])), batchSize: huge)) },
                      saying: "the minibatch size must be at most")
        assertRefused({ $0.task = .image(ImageTaskSpec(architecture: .mlp(.init(hiddenSizes: Array(repeating: 60000, count: 400))))) },
                      saying: "parameters")
        XCTAssertEqual(config { _ in }.problems(), [])
    }

    /// A φ whose files could not be read back is refused before training (a hidden size of 2,800
    /// trained, then wrote a 1.13 GB checkpoint that no resume could read, past the 1 GiB limit);
    /// the largest that fits the optimizer file's 16 bytes per parameter trains.
    func testAPhiWhoseFilesCouldNotBeReadBackIsRefused() {
        let count = ParameterLayout(config { $0.optimizer.hiddenSizes = [2800, 2800] }.optimizer).count
        XCTAssertGreaterThan(12 * count, RegularFile.checkpointLimit)
        assertRefused({ $0.optimizer.hiddenSizes = [2800, 2800] },
                      saying: "the learned optimizer's parameter count must be at most 16777216 (got \(count)): its optimizer file and checkpoints could not be read back")
        let largest = config { $0.optimizer.hiddenSizes = [1180, 1180] }
        XCTAssertLessThanOrEqual(ParameterLayout(largest.optimizer).count, SizeLimits.trainedParameters)
        XCTAssertEqual(largest.problems(), [])
        XCTAssertGreaterThanOrEqual(RegularFile.checkpointLimit, 12 * SizeLimits.trainedParameters + (1 << 20))
    }

    /// A learning rate or clipping norm that is 0 as a Float (Adam's rate, the clipping factor)
    /// trained meta-steps that left φ as it was.
    func testRatesThatUnderflowAFloatAreRefused() {
        assertRefused({ $0.learningRate = 1e-46 }, saying: "the learning rate must be positive as a 32-bit float (got 1e-46, which underflows one)")
        assertRefused({ $0.clipNorm = 1e-310 }, saying: "the clipping norm must be positive as a 32-bit float")
        XCTAssertEqual(config { $0.learningRate = 1e-44; $0.clipNorm = 1e-44 }.problems(), [])
    }

    /// A horizon past 2^24 steps trapped at its step 2^24 in an image task (the minibatch stream
    /// of a step is a substream of 24 bits), and past 2^32 horizons the random key's horizon word
    /// trapped: both are refused before any work, and the largest values that work are accepted.
    func testHorizonAndIterationsStayWithinTheRandomKeys() {
        assertRefused({ $0.unroll = 1; $0.horizon = (1 << 24) + 1 }, saying: "the horizon must be at most 16777216")
        XCTAssertEqual(config { $0.unroll = 1; $0.horizon = 1 << 24 }.problems(), [])
        assertRefused({ $0.iterations = (1 << 32) + 1 }, saying: "the number of iterations must be at most 4294967296")
        XCTAssertEqual(config { $0.iterations = 1 << 32 }.problems(), [])
        _ = RandomKey(seed: 0, horizon: (1 << 32) - 1, task: 0).stream(.minibatches, substream: (1 << 24) - 1)
    }

    /// The engine estimate is the engine's own formula (`UnrollEngine.statedBytes`, padding to
    /// whole tiles included) plus its state: exact where one lane holds all columns, and small
    /// functions are not underestimated (one coordinate still takes a tile of 256 columns).
    func testMemoryEstimateFollowsTheEngineFormula() {
        for (sizes, dimension, count, unroll) in [([20, 20], 16, 64, 20), ([8], 256, 4, 5), ([20, 20, 20], 128, 8, 7),
                                                  ([20, 20], 1, 1, 300), ([20], 3, 5, 2)] {
            let c = config {
                $0.optimizer = LearnedOptimizerConfig(hiddenSizes: sizes, preprocessing: .logAndSign(p: 10), outputScale: 0.1)
                $0.task = .quadratic(dimension: dimension)
                $0.metaBatch = count
                $0.blockSize = count
                $0.unroll = unroll
                $0.horizon = unroll
            }
            let engine = UnrollEngine<Float>(layout: ParameterLayout(c.optimizer), tasks: quadratics(count, dimension: dimension, seed: 1),
                                             unroll: unroll)
            let state = (2 + 2 * sizes.reduce(0, +)) * dimension * count * 4
            XCTAssertEqual(c.estimatedEngineBytes(coordinates: dimension), engine.statedBytes + state, "\(sizes) \(dimension) × \(count)")
            let forward = UnrollEngine<Float>(forwardOnlyLayout: ParameterLayout(c.optimizer), tasks: quadratics(count, dimension: dimension, seed: 1))
            XCTAssertEqual(c.optimizer.estimatedEngineBytes(columns: dimension * count, unroll: nil), forward.statedBytes + state)
        }
        // Blocks are shared out: two ranks each hold half of 8 blocks' engines; Int overflow gives nil.
        let c = config { $0.metaBatch = 16 }
        let phiSized = TrainingConfig.phiSizedBuffers * ParameterLayout(c.optimizer).count * 4
        XCTAssertEqual((try! c.estimatedRankBytes(coordinates: 10, ranks: 2)! - phiSized) * 2,
                       try! c.estimatedRankBytes(coordinates: 10, ranks: 1)! - phiSized)
        XCTAssertNil(config { $0.metaBatch = 1 << 24; $0.blockSize = 1 << 24 }.estimatedEngineBytes(coordinates: 1 << 30))
    }

    /// A block size above the meta-batch makes one block of the meta-batch, which is all the
    /// engine holds: it is estimated as that block, not refused for memory it never takes.
    func testBlockLargerThanTheMetaBatchIsEstimatedAsTheMetaBatch() throws {
        let whole = config { $0.blockSize = $0.metaBatch }
        let larger = config { $0.blockSize = 1 << 24 }
        XCTAssertEqual(larger.functionsPerBlock, whole.metaBatch)
        XCTAssertEqual(larger.estimatedEngineBytes(coordinates: 10), whole.estimatedEngineBytes(coordinates: 10))
        XCTAssertEqual(try larger.estimatedRankBytes(coordinates: 10, ranks: 1), try whole.estimatedRankBytes(coordinates: 10, ranks: 1))
    }

    /// The functions' own memory counts: a quadratic's W is n × n Doubles per function, and its
    /// batch packs groups of eight (one function takes a whole group).
    func testMemoryEstimateCountsTheFunctions() throws {
        let n = 1 << 16
        let quadratic = TaskSpec.quadratic(dimension: n)
        XCTAssertEqual(try quadratic.estimatedBytes(functions: 1, batched: false), 8 * (n * n + n) + 4 * n)
        XCTAssertEqual(try quadratic.estimatedBytes(functions: 1, batched: true), 8 * (n * n + n) + 4 * n + 64 * (n * n + n))
        XCTAssertEqual(try TaskSpec.rosenbrock(dimension: 1 << 30).estimatedBytes(functions: 1, batched: true), 20 << 30)
        // A quadratic of 2^16 coordinates on one rank: hundreds of GiB, not the engine's few.
        let c = config { $0.task = quadratic; $0.metaBatch = 1; $0.blockSize = 1 }
        XCTAssertGreaterThan(try XCTUnwrap(try c.estimatedRankBytes(coordinates: n, ranks: 1)), 64 * n * n)
    }

    func testOverflowReportingArithmetic() {
        XCTAssertEqual(SizeLimits.product(3, 4, 5), 60)
        XCTAssertNil(SizeLimits.product(1 << 32, 1 << 32))
        XCTAssertNil(SizeLimits.sum(Int.max, 1))
        XCTAssertEqual(SizeLimits.sum(1, 2, 3), 6)
    }
}

/// The default --max-memory follows the process's cgroup limit (Slurm's --mem): a run past it
/// was killed by the kernel (137) where it should have been refused (64).
final class CgroupMemoryTests: XCTestCase {
    func testTheSmallestLimitOnTheWayToTheRootCounts() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cgroup-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func write(_ text: String, _ path: String) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: false, encoding: .utf8)
        }
        // v2: the job's cgroup says max, its parent 400 MiB.
        try write("0::/slurm/job7/step0\n", "self-v2")
        try write("max\n", "v2/slurm/job7/step0/memory.max")
        try write("419430400\n", "v2/slurm/job7/memory.max")
        XCTAssertEqual(CgroupMemory.limit(cgroupFile: root.appendingPathComponent("self-v2").path, root: root.appendingPathComponent("v2").path), 419_430_400)
        // v1: the memory controller's line among others.
        try write("5:cpu,cpuacct:/x\n4:memory:/demo\n1:name=systemd:/\n", "self-v1")
        try write("9223372036854771712\n", "v1/memory/memory.limit_in_bytes")
        try write("1048576\n", "v1/memory/demo/memory.limit_in_bytes")
        XCTAssertEqual(CgroupMemory.limit(cgroupFile: root.appendingPathComponent("self-v1").path, root: root.appendingPathComponent("v1").path), 1_048_576)
        // No limit anywhere, or no cgroup file: none.
        try write("0::/\n", "self-none")
        XCTAssertNil(CgroupMemory.limit(cgroupFile: root.appendingPathComponent("self-none").path, root: root.appendingPathComponent("v2").path))
        XCTAssertNil(CgroupMemory.limit(cgroupFile: root.appendingPathComponent("missing").path))
    }

    /// With --shards S every rank of a group holds the whole functions of its group's blocks: the
    /// estimate counted one block per rank (measured 3.29 GB per rank where it said 1.62 GiB).
    func testShardedGroupsHoldTheirGroupsBlocks() {
        var c = TrainingConfig(task: .quadratic(dimension: 10))
        c.metaBatch = 32
        c.blockSize = 16
        XCTAssertEqual(c.mostBlocksPerRank(ranks: 2), 1)
        XCTAssertEqual(c.mostBlocksPerRank(ranks: 2, shards: 2), 2)
        XCTAssertEqual(c.mostBlocksPerRank(ranks: 6, shards: 3), 1)
        XCTAssertGreaterThan(try XCTUnwrap(try c.estimatedRankBytes(coordinates: 10, ranks: 2, shards: 2)),
                             try XCTUnwrap(try c.estimatedRankBytes(coordinates: 10, ranks: 2)))
    }
}

/// The default --max-memory shares the host among the job's ranks on it: only Open MPI's count
/// was read, so under srun every rank took the whole machine (or Slurm job's cgroup) for itself.
final class HostRanksTests: XCTestCase {
    func testEachLauncherSaysHowManyRanksShareTheHost() {
        XCTAssertEqual(HostRanks.count(environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "4", "SLURM_STEP_TASKS_PER_NODE": "2"]), 4)
        // srun (PMIx or PMI-2): this node's entry of the step's list; SLURM_NODEID counts the step's nodes.
        let srun = ["PMIX_RANK": "3", "SLURM_STEP_TASKS_PER_NODE": "3(x2),1"]
        XCTAssertEqual(HostRanks.count(environment: srun.merging(["SLURM_NODEID": "0"]) { $1 }), 3)
        XCTAssertEqual(HostRanks.count(environment: srun.merging(["SLURM_NODEID": "1"]) { $1 }), 3)
        XCTAssertEqual(HostRanks.count(environment: srun.merging(["SLURM_NODEID": "2"]) { $1 }), 1)
        XCTAssertEqual(HostRanks.count(environment: ["PMI_RANK": "0", "SLURM_STEP_TASKS_PER_NODE": "2,5", "SLURM_NODEID": "1"]), 5)
        // MPICH's Hydra.
        XCTAssertEqual(HostRanks.count(environment: ["PMI_RANK": "1", "PMI_SIZE": "6", "MPI_LOCALNRANKS": "6"]), 6)
        // A process no launcher started (a batch script's own, evaluate) has the host to itself,
        // whatever Slurm's variables say; so does one whose variables cannot be read.
        XCTAssertEqual(HostRanks.count(environment: ["SLURM_STEP_TASKS_PER_NODE": "8", "SLURM_NODEID": "0"]), 1)
        XCTAssertEqual(HostRanks.count(environment: [:]), 1)
        XCTAssertEqual(HostRanks.count(environment: ["PMIX_RANK": "0", "SLURM_STEP_TASKS_PER_NODE": "2(x", "SLURM_NODEID": "0"]), 1)
        XCTAssertEqual(HostRanks.count(environment: ["PMIX_RANK": "0", "SLURM_STEP_TASKS_PER_NODE": "2", "SLURM_NODEID": "1"]), 1)
        XCTAssertEqual(HostRanks.count(environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "0"]), 1)
    }

    func testSlurmListsExpandTheirRepeats() {
        XCTAssertEqual((0..<6).map { HostRanks.slurmTasks("2(x3),1,4(x2)", node: $0) }, [2, 2, 2, 1, 4, 4])
        XCTAssertNil(HostRanks.slurmTasks("2(x3),1,4(x2)", node: 6))
        XCTAssertNil(HostRanks.slurmTasks("2(3)", node: 0))
        XCTAssertNil(HostRanks.slurmTasks("0", node: 0))
        XCTAssertNil(HostRanks.slurmTasks("2", node: -1))
    }
}
