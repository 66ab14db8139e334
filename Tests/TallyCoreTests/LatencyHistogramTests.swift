import TallyAggregate
import TallyCore
import Testing

/// The performance report's histogram: buckets in order, every value reported within 1/128 of itself, nearest-rank
/// percentiles within that of the exact ones, and no value (0, huge, negative) that traps.
@Suite struct LatencyHistogramTests {
    @Test func bucketsAreOrderedAndValuesStayWithinTheStatedError() {
        var previous: Int64 = -1
        var values: [Int64] = Array(0...5000) + [65_535, 65_536, 1_000_003, 3_600_000, Int64(Int32.max), 1 << 40]
        values += [Int64.max / 3, Int64.max - 1, Int64.max]
        for v in values {
            let b = LatencyHistogram.bucket(of: v)
            #expect(b >= previous, "bucket of \(v) went back")
            previous = b
            let reported = LatencyHistogram.value(of: b)
            // |reported - v| * 128 <= v, in Int128 so the check itself cannot overflow.
            #expect(
                (Int128(reported) - Int128(v)).magnitude * 128 <= Int128(v).magnitude, "\(v) reported as \(reported)")
            #expect(LatencyHistogram.bucket(of: reported) == b)
        }
        #expect(LatencyHistogram.bucket(of: 127) == 127 && LatencyHistogram.value(of: 127) == 127)
        #expect(LatencyHistogram.bucket(of: -5) == 0)
        #expect(LatencyHistogram.bucket(of: Int64.max) == 3711)
    }

    @Test func percentilesAreNearestRankWithinTheError() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let n = Int.random(in: 1...400, using: &generator)
            let samples = (0..<n).map { _ in Int64.random(in: 1...120_000, using: &generator) }.sorted()
            var counts: [Int64: Int64] = [:]
            for s in samples { counts[LatencyHistogram.bucket(of: s), default: 0] += 1 }
            let histogram = counts.map { (bucket: $0.key, count: $0.value) }
            for p: Int64 in [50, 95, 99] {
                let rank = max(1, (Int(p) * n + 99) / 100)
                let exact = samples[rank - 1]
                let got = LatencyHistogram.percentile(p, of: histogram)!
                #expect(
                    (Int128(got) - Int128(exact)).magnitude * 128 <= Int128(exact), "p\(p) of \(n): \(got) vs \(exact)")
            }
        }
        #expect(LatencyHistogram.percentile(50, of: []) == nil)
        #expect(
            LatencyHistogram.percentile(99, of: [(bucket: 5, count: Int64.max), (bucket: 9, count: Int64.max)]) == 9)
    }
}
