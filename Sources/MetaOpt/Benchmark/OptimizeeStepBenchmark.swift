/// Time of one optimizee step: the loss and gradient at θ on one step's minibatch, what every
/// unrolled step of meta-training and evaluation pays besides the learned optimizer
/// (`metaopt-dist bench --task cnn-step`).
///
/// A sample is `stepsPerSample` consecutive steps (steps 0, 1, … so each has its own minibatch)
/// at θ₀, divided by their count; the result is the median over `repetitions` samples after
/// `warmup` untimed ones. Wall and thread CPU time are both kept: on a shared machine the CPU
/// time excludes the time other processes held the core.
package enum OptimizeeStepBenchmark {
    package struct Result: Codable, Sendable {
        package var workload: String
        /// The function's name (`TaskFamily.name`) and its number of parameters.
        package var family: String
        package var dimension: Int
        package var repetitions: Int
        package var warmup: Int
        package var stepsPerSample: Int
        /// Seconds per step, one entry per sample.
        package var stepSeconds: [Double]
        package var stepMedian: Double
        package var stepMin: Double
        package var stepCPUSeconds: [Double]
        package var stepCPUMedian: Double
        /// The last step's loss (a checksum: the same build and data give the same value).
        package var lastLoss: Float
    }

    /// Times `family.sample(key)`'s loss and gradient.
    package static func run(family: any TaskFamily, workload: String, key: RandomKey = RandomKey(seed: 0, horizon: 0, task: 0),
                            repetitions: Int, warmup: Int, stepsPerSample: Int = 10) -> Result {
        precondition(repetitions >= 1 && warmup >= 0 && stepsPerSample >= 1)
        let optimizee = family.sample(key)
        let theta = optimizee.initialParameters()
        var gradient = [Float](repeating: 0, count: optimizee.dimension)
        var loss: Float = 0
        var times: [Double] = [], cpuTimes: [Double] = []
        theta.withUnsafeBufferPointer { t in
            gradient.withUnsafeMutableBufferPointer { g in
                var step = 0
                for sample in 0..<(warmup + repetitions) {
                    let start = Stopwatch.now(), startCPU = Stopwatch.threadCPU()
                    for _ in 0..<stepsPerSample {
                        loss = optimizee.lossAndGradient(at: t, step: step, gradient: g)
                        step += 1
                    }
                    let cpu = Double(Stopwatch.threadCPU() - startCPU) / 1e9
                    let wall = Double(Stopwatch.now() - start) / 1e9
                    if sample >= warmup {
                        times.append(wall / Double(stepsPerSample))
                        cpuTimes.append(cpu / Double(stepsPerSample))
                    }
                }
            }
        }
        return Result(workload: workload, family: family.name, dimension: optimizee.dimension, repetitions: repetitions,
                      warmup: warmup, stepsPerSample: stepsPerSample, stepSeconds: times, stepMedian: median(times),
                      stepMin: times.min()!, stepCPUSeconds: cpuTimes, stepCPUMedian: median(cpuTimes), lastLoss: loss)
    }
}
