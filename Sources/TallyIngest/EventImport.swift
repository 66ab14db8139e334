import Crypto
import TallyCore

/// `tally import --ndjson`: historical events, one JSON object per line, held to the API's rules (`EventDecoder`),
/// attributed and priced as the API does (`IngestPipeline.attributeEach`), then committed `batchSize` at a time,
/// each batch in ONE transaction of the store's bulk insert with its rollups. The next batch is read and priced while
/// the previous one commits, so the decoder and the database work at once.
///
/// Ids make it safe to run again: an event without an `id` is named `imp_` + the SHA-256 of its line number and its
/// line, so the same file imported twice, or again after a line was fixed in place, stores nothing twice.
package struct EventImport<Store: ProjectStore & EventStore>: Sendable {
    package let pipeline: IngestPipeline<Store>
    package let options: ImportOptions

    package init(pipeline: IngestPipeline<Store>, options: ImportOptions) {
        self.pipeline = pipeline
        self.options = options
    }

    /// Reads the input through `read` (the next bytes, nil at the end) and imports it; `progress` is told after each
    /// committed batch. Throws what the store throws; what a line gets wrong is in the report.
    package func run(
        read: () throws -> [UInt8]?, now: Instant = .now, progress: (ImportProgress) -> Void = { _ in }
    ) async throws -> ImportReport {
        var state = ImportState()
        do {
            try await readAll(read, into: &state, now: now, progress: progress)
            try await attributeDecoded(&state, now: now)
            try await commit(&state, all: true, progress: progress)
            try await state.settle()
        } catch {
            // The batch in flight finishes (or fails) before the store is let go of.
            try? await state.settle()
            throw error
        }
        // Stopped: the lines read ahead of the invalid one were never imported.
        if let stop = state.stoppedAt { state.progress.lines = stop }
        progress(state.progress)
        return ImportReport(progress: state.progress, problems: state.problems, stoppedAt: state.stoppedAt)
    }

    /// The longest line taken: the API's largest body. A longer one is refused whole, without being held.
    package static var maxLineBytes: Int { EventRules.maxBodyBytes }

    /// Splits the input into whole lines, chunk by chunk, and takes them.
    private func readAll(
        _ read: () throws -> [UInt8]?, into state: inout ImportState, now: Instant,
        progress: (ImportProgress) -> Void
    ) async throws {
        var carry: [UInt8] = []
        var overlong = false
        func refuseOverlong(_ state: inout ImportState) {
            state.progress.lines += 1
            state.refuse(
                line: state.progress.lines,
                [FieldProblem(field: "line", reason: "is longer than \(Self.maxLineBytes) bytes")],
                stop: !options.skipInvalid)
            overlong = false
        }
        while state.stoppedAt == nil, let chunk = try read() {
            state.progress.bytesRead += Int64(chunk.count)
            guard let lastNewline = chunk.lastIndex(of: 0x0A) else {
                if !overlong { carry += chunk }
                if carry.count > Self.maxLineBytes {
                    overlong = true
                    carry = []
                }
                continue
            }
            var start = chunk.startIndex
            if overlong {
                let end = chunk.firstIndex(of: 0x0A)!
                refuseOverlong(&state)
                if state.stoppedAt != nil { break }
                start = end + 1
            }
            if start <= lastNewline {
                var lines = carry
                lines += chunk[start..<lastNewline]
                try await take(lines, into: &state, now: now, progress: progress)
            }
            carry = Array(chunk[(lastNewline + 1)...])
        }
        if state.stoppedAt == nil {
            if overlong {
                refuseOverlong(&state)
            } else if !carry.isEmpty {
                try await take(carry, into: &state, now: now, progress: progress)
            }
        }
    }

    /// Decodes whole lines; commits once a batch is full. Stops at the first invalid line unless `skipInvalid`.
    private func take(
        _ bytes: [UInt8], into state: inout ImportState, now: Instant, progress: (ImportProgress) -> Void
    ) async throws {
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            state.progress.lines += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            let number = state.progress.lines
            do {
                var event = try EventDecoder.decodeLine(
                    line, now: now, source: EventSource.import, missingID: { ImportState.missingID(line, number) })
                if event.attribution.project == nil { event.attribution.project = options.defaultProject }
                state.decoded.append(event)
                state.decodedLines.append(number)
            } catch {
                let problems: [FieldProblem] =
                    switch error {
                    case .invalid(let p), .contentNotAllowed(let p): p
                    default: [FieldProblem(field: "line", reason: "\(error)")]
                    }
                state.refuse(line: number, problems, stop: !options.skipInvalid)
            }
            if state.stoppedAt != nil || state.decoded.count >= min(1000, options.batchSize) {
                try await attributeDecoded(&state, now: now)
            }
            if state.stoppedAt != nil { return }
            try await commit(&state, all: false, progress: progress)
        }
    }

    /// Attributes and prices the decoded events (a project lookup serves a thousand lines at a time). When a line
    /// stops the import, only the events of the lines before it are kept.
    private func attributeDecoded(_ state: inout ImportState, now: Instant) async throws {
        guard !state.decoded.isEmpty else { return }
        let (stored, problems) = try await pipeline.attributeEach(
            state.decoded, organizationID: options.organizationID, token: nil, receivedAt: now)
        var refused = Set<Int>()
        for var problem in problems {
            let index = problem.index ?? 0
            refused.insert(index)
            problem.index = nil
            state.refuse(line: state.decodedLines[index], [problem], stop: !options.skipInvalid)
        }
        // `stored` holds the events not refused, in order.
        let lines = state.decodedLines.indices.filter { !refused.contains($0) }.map { state.decodedLines[$0] }
        for (event, line) in zip(stored, lines) where state.stoppedAt.map({ line < $0 }) ?? true {
            state.ready.append(event)
        }
        state.decoded.removeAll(keepingCapacity: true)
        state.decodedLines.removeAll(keepingCapacity: true)
    }

    /// Starts each full batch (`all`: the rest too) once the one in flight has committed; the reading goes on
    /// meanwhile.
    private func commit(_ state: inout ImportState, all: Bool, progress: (ImportProgress) -> Void) async throws {
        while state.ready.count >= options.batchSize || (all && !state.ready.isEmpty) {
            try await state.settle()
            progress(state.progress)
            let take = min(options.batchSize, state.ready.count)
            let batch = EventBatch(organizationID: options.organizationID, events: Array(state.ready.prefix(take)))
            state.ready.removeFirst(take)
            let store = pipeline.store
            state.inFlight = Task { try await store.insert([batch])[0] }
        }
    }
}

package struct ImportOptions: Sendable {
    package var organizationID: String
    /// The project of the lines that name none.
    package var defaultProject: String?
    /// Events per transaction.
    package var batchSize: Int
    /// Report invalid lines and go on, rather than stop at the first.
    package var skipInvalid: Bool

    package init(organizationID: String, defaultProject: String?, batchSize: Int = 10_000, skipInvalid: Bool) {
        self.organizationID = organizationID
        self.defaultProject = defaultProject
        self.batchSize = max(1, batchSize)
        self.skipInvalid = skipInvalid
    }
}

/// Where an import stands: after each committed batch, and at the end.
package struct ImportProgress: Sendable, Equatable {
    package var bytesRead: Int64 = 0
    /// Lines read, blank ones included (a problem's line number counts them too).
    package var lines = 0
    package var stored = 0
    package var duplicates = 0
    package var invalid = 0
}

/// A line's problem, by its number in the input (from 1).
package struct ImportLineProblem: Sendable, Equatable {
    package var line: Int
    package var problem: FieldProblem
}

package struct ImportReport: Sendable {
    package var progress: ImportProgress
    /// The first `ImportState.maxProblems` problems.
    package var problems: [ImportLineProblem]
    /// Without `skipInvalid`: the invalid line the import stopped at (the lines before it are stored).
    package var stoppedAt: Int?
}

/// One import's running state.
private struct ImportState {
    static let maxProblems = 100
    var progress = ImportProgress()
    var decoded: [UsageEvent] = []
    var decodedLines: [Int] = []
    var ready: [StoredEvent] = []
    var inFlight: Task<InsertOutcome, any Error>?
    var problems: [ImportLineProblem] = []
    var stoppedAt: Int?
    /// The id of a line without one: its number and its bytes, hashed. The same file imported again (or again after a
    /// line was fixed in place) gives the same ids, identical lines stay distinct events, and nothing is remembered
    /// per line (a hundred million lines cost no memory).
    static func missingID(_ line: ArraySlice<UInt8>, _ number: Int) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("\(number)\n".utf8))
        hasher.update(data: line)
        let hex = hasher.finalize().map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        // 32 hex digits (128 bits) keep ids short and collisions out of reach.
        return "imp_" + hex.prefix(32)
    }

    /// With `stop`, only the first invalid line counts: projects are looked up a thousand lines at a time, so a line
    /// read ahead may have been refused before an earlier one is found unattributable, and is forgotten then.
    mutating func refuse(line: Int, _ lineProblems: [FieldProblem], stop: Bool) {
        if stop {
            if let stoppedAt, stoppedAt <= line { return }
            stoppedAt = line
            problems.removeAll { $0.line > line }
            progress.invalid = 0
        }
        progress.invalid += 1
        for problem in lineProblems where problems.count < Self.maxProblems {
            problems.append(ImportLineProblem(line: line, problem: problem))
        }
    }

    /// Waits for the batch in flight and counts what it stored.
    mutating func settle() async throws {
        guard let task = inFlight else { return }
        inFlight = nil
        let outcome = try await task.value
        progress.stored += outcome.accepted
        progress.duplicates += outcome.duplicates
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
