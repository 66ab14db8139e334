/// A font's character → glyph map, from its best Unicode 'cmap' subtable: format 12 (all of Unicode, so emoji
/// and other characters past U+FFFF) when present, else format 4 (the Basic Multilingual Plane).
///
/// The segments are copied out once; a lookup is a binary search, so a 20,000-character CJK map costs
/// nothing per character beyond a few comparisons.
struct CharacterMap: Sendable {
    /// A run of consecutive characters: format 12 groups, and format 4 segments whose glyphs are computed
    /// from the character (idRangeOffset 0). `glyphIDsOffset` is set for the format 4 segments whose glyphs
    /// are listed one by one in the font's glyphIdArray.
    struct Segment: Sendable {
        var first: UInt32
        var last: UInt32
        var firstGlyph: UInt32
        var delta: UInt16 = 0
        var glyphIDsOffset: Int? = nil
    }

    private let reader: BigEndianReader
    private let segments: [Segment]
    private let isFormat4: Bool

    /// A map with no characters.
    init(reader: BigEndianReader) {
        self.reader = reader
        segments = []
        isFormat4 = false
    }

    init(reader: BigEndianReader, table: Int) throws {
        self.reader = reader
        // Unicode subtables by preference: (platform, encoding, format).
        let preferences: [(UInt16, UInt16, UInt16)] = [
            (3, 10, 12), (0, 6, 12), (0, 4, 12), (0, 3, 4), (3, 1, 4), (0, 2, 4), (0, 1, 4), (0, 0, 4),
        ]
        var candidates: [(rank: Int, offset: Int, format: UInt16)] = []
        for i in 0..<Int(try reader.u16(table + 2)) {
            let record = table + 4 + 8 * i
            let platform = try reader.u16(record)
            let encoding = try reader.u16(record + 2)
            let offset = table + Int(try reader.u32(record + 4))
            guard let format = try? reader.u16(offset) else { continue }
            if let rank = preferences.firstIndex(where: { $0 == (platform, encoding, format) }) {
                candidates.append((rank, offset, format))
            }
        }
        guard let best = candidates.min(by: { $0.rank < $1.rank }) else {
            throw PDFFontError("the font has no Unicode character map (cmap format 4 or 12)")
        }
        isFormat4 = best.format == 4
        segments = try isFormat4 ? Self.format4(reader, best.offset) : Self.format12(reader, best.offset)
    }

    /// The glyph drawn for `scalar`, or nil when the font has none (glyph 0, .notdef, counts as none).
    func glyph(for scalar: Unicode.Scalar) -> UInt16? {
        let c = scalar.value
        var low = 0
        var high = segments.count - 1
        while low <= high {
            let mid = (low + high) / 2
            let segment = segments[mid]
            if c < segment.first {
                high = mid - 1
            } else if c > segment.last {
                low = mid + 1
            } else {
                let glyph = glyph(c, in: segment)
                return glyph == 0 ? nil : glyph
            }
        }
        return nil
    }

    private func glyph(_ c: UInt32, in segment: Segment) -> UInt16 {
        guard isFormat4 else {
            let glyph = UInt64(segment.firstGlyph) + UInt64(c - segment.first)
            return glyph <= 0xFFFF ? UInt16(glyph) : 0
        }
        guard let ids = segment.glyphIDsOffset else { return UInt16(truncatingIfNeeded: c &+ UInt32(segment.delta)) }
        guard let listed = try? reader.u16(ids + 2 * Int(c - segment.first)), listed != 0 else { return 0 }
        return listed &+ segment.delta
    }

    private static func format4(_ r: BigEndianReader, _ offset: Int) throws -> [Segment] {
        let segCount = Int(try r.u16(offset + 6)) / 2
        let ends = offset + 14
        let starts = ends + 2 * segCount + 2  // past reservedPad
        let deltas = starts + 2 * segCount
        let rangeOffsets = deltas + 2 * segCount
        var segments: [Segment] = []
        for i in 0..<segCount {
            let first = try r.u16(starts + 2 * i)
            let last = try r.u16(ends + 2 * i)
            guard first <= last, !(first == 0xFFFF && last == 0xFFFF) else { continue }
            let rangeOffset = Int(try r.u16(rangeOffsets + 2 * i))
            var segment = Segment(
                first: UInt32(first), last: UInt32(last), firstGlyph: 0, delta: try r.u16(deltas + 2 * i))
            // idRangeOffset counts bytes from its own field to the glyph of `first` in glyphIdArray.
            if rangeOffset != 0 { segment.glyphIDsOffset = rangeOffsets + 2 * i + rangeOffset }
            segments.append(segment)
        }
        return sortedWithoutOverlap(segments)
    }

    private static func format12(_ r: BigEndianReader, _ offset: Int) throws -> [Segment] {
        let count = Int(try r.u32(offset + 12))
        _ = try r.range(offset + 16, count: count * 12, "the cmap format 12 groups")
        var segments: [Segment] = []
        segments.reserveCapacity(count)
        for i in 0..<count {
            let group = offset + 16 + 12 * i
            let first = try r.u32(group)
            let last = try r.u32(group + 4)
            guard first <= last, last <= 0x10FFFF else { continue }
            segments.append(Segment(first: first, last: last, firstGlyph: try r.u32(group + 8)))
        }
        return sortedWithoutOverlap(segments)
    }

    /// The binary search needs ordered, disjoint runs; a malformed font's overlapping runs are dropped.
    private static func sortedWithoutOverlap(_ segments: [Segment]) -> [Segment] {
        var kept: [Segment] = []
        for segment in segments.sorted(by: { $0.first < $1.first })
        where kept.last.map({ $0.last < segment.first }) ?? true {
            kept.append(segment)
        }
        return kept
    }
}
