import Dispatch

/// Wall-clock seconds since `start` (the monotonic clock).
@inline(__always)
func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}
