extension Communicator {
    /// True on every rank when every rank passed the same value: one MAX allreduce of (v, −v).
    func allAgree(on value: UInt64) throws -> Bool {
        let v = Int64(bitPattern: value & 0x3FFF_FFFF_FFFF_FFFF)
        var probe: [Int64] = [v, -v]
        try allreduce(&probe, .max)
        return probe[0] == v && probe[1] == -v
    }
}
