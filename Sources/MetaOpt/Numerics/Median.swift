/// The median of `values`, the mean of the middle two for an even count; NaN when empty.
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    var scratch = values
    return median(&scratch)
}

/// The median of `values` (not empty; reordered in place, so that a caller with a reused buffer,
/// e.g. a moving median, allocates nothing), the mean of the middle two for an even count.
func median(_ values: inout [Double]) -> Double {
    let m = values.count
    let upper = quickselect(&values, m / 2)
    guard m % 2 == 0 else { return upper }
    // `quickselect` leaves the smaller values before index m / 2.
    return (values[0..<(m / 2)].max()! + upper) / 2
}

/// The k-th smallest of `a` (from 0), by quickselect with a three-way partition (runs of equal
/// values cost nothing extra); afterwards a[0..<k] holds values ≤ it.
func quickselect(_ a: inout [Double], _ k: Int) -> Double {
    var lo = 0, hi = a.count - 1
    while lo < hi {
        let x = a[lo], y = a[(lo + hi) / 2], z = a[hi]
        let pivot = max(min(x, y), min(max(x, y), z))
        var lt = lo, i = lo, gt = hi
        while i <= gt {
            if a[i] < pivot {
                a.swapAt(lt, i)
                lt += 1
                i += 1
            } else if a[i] > pivot {
                a.swapAt(i, gt)
                gt -= 1
            } else {
                i += 1
            }
        }
        if k < lt { hi = lt - 1 } else if k > gt { lo = gt + 1 } else { return pivot }
    }
    return a[k]
}
