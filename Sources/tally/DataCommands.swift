import ArgumentParser
import Foundation
import Logging
import TallyCore
import TallyServer

#if canImport(Glibc)
    import Glibc
#endif

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the embedded SQLite store into one file, consistent, while tally serve runs and writes.",
        discussion: """
            The copy is a snapshot of one moment: every event acknowledged before it started is in it. It is written
            under another name, checked, then renamed, and made 0600. It does NOT hold the master key
            ($TALLY_DATA_DIR/master.key or TALLY_MASTER_KEY): keep that elsewhere, or the provider keys in the backup
            cannot be opened. PostgreSQL: use pg_dump or point-in-time recovery (docs/operations.md).
            """)
    @Option(help: "The backup file to write.") var to: String
    @Flag(help: "Replace the file if it exists.") var force = false
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let (config, _) = configure(store.flags)
        try await reportingFailures {
            let copied = try StoreOperations.backup(config, to: to, replace: force)
            print(
                "backed up \(copied.events) events (\(megabytes(copied.bytes)), schema \(copied.schemaVersion)) to \(to)"
            )
            FileHandle.standardError.write(
                Data("tally: the backup holds no master key: keep a copy of it elsewhere\n".utf8))
        }
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the embedded SQLite store with a backup made by tally backup.",
        discussion: """
            Stop every tally serve on the store first. A store that holds accounts, projects or events is only
            replaced with --force. The backup is checked first (SQLite's quick_check, Tally's schema, not from a newer
            version); the next tally serve applies any migration it lacks. Provider keys open only with the master
            key the backup was made under.
            """)
    @Option(help: "The backup file.") var from: String
    @Flag(help: "Replace a store that is not empty.") var force = false
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let (config, logger) = configure(store.flags)
        try await reportingFailures {
            let copied = try StoreOperations.restore(config, from: from, force: force, logger: logger)
            print(
                "restored \(copied.events) events (\(megabytes(copied.bytes)), schema \(copied.schemaVersion)) from \(from)"
            )
        }
    }
}

func megabytes(_ bytes: Int64) -> String {
    String(format: "%.1f MB", Double(bytes) / 1_000_000)
}

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import historical events from NDJSON (one event per line, the API's fields), validated and priced.",
        discussion: """
            Each line is held to the rules of POST /api/v1/events and priced as tally serve prices it; the events are
            committed in large batches (one transaction each) into the default organization. A line without an id is
            named after its content, so importing a file again stores nothing twice. Stops at the first invalid line
            (the lines before it are stored) unless --skip-invalid. Prints a progress bar when stderr is a terminal.
            """)
    @Option(name: .customLong("ndjson"), help: "The file to read, or - for standard input.") var file: String
    @Option(help: "The project (name or id) of the lines that name none.") var project: String?
    @Option(name: .customLong("batch-size"), help: "Events per transaction (default 10000).") var batchSize = 10_000
    @Flag(name: .customLong("skip-invalid"), help: "Report invalid lines and import the others.") var skipInvalid =
        false
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard (1...100_000).contains(batchSize) else {
            throw ValidationError("--batch-size must be between 1 and 100000")
        }
    }

    func run() async throws {
        let input: FileHandle
        if file == "-" {
            input = .standardInput
        } else {
            guard let handle = FileHandle(forReadingAtPath: file) else { fail("cannot read \(file)") }
            input = handle
        }
        let total = file == "-" ? nil : (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int64)
        let bar = ProgressBar(total: total ?? nil, enabled: isatty(STDERR_FILENO) == 1)
        let result = try await withConfiguredStore(store.flags, .write) {
            [project, batchSize, skipInvalid] config, logger, store in
            try await StoreOperations.importEvents(
                store: store, config: config, logger: logger, defaultProject: project, batchSize: batchSize,
                skipInvalid: skipInvalid,
                read: { [file] in
                    // `read(upToCount:)` throws where `readData` would end the process (a directory, an I/O error).
                    let data: Data?
                    do {
                        data = try input.read(upToCount: 1 << 20)
                    } catch {
                        throw TallyError.unavailable("cannot read \(file): \(error.localizedDescription)")
                    }
                    guard let data, !data.isEmpty else { return nil }
                    return [UInt8](data)
                },
                progress: { bar.show($0) })
        }
        bar.finish()
        for p in result.problems {
            FileHandle.standardError.write(Data("tally: line \(p.line): \(p.field) \(p.reason)\n".utf8))
        }
        let s = result.status
        print(
            "imported \(s.stored) events from \(s.lines) lines: \(s.duplicates) already stored, \(s.invalid) invalid")
        if let line = result.stoppedAt {
            fail(
                "stopped at line \(line), which is invalid: the lines before it are stored; fix it and run again, or pass --skip-invalid"
            )
        }
        if s.invalid > 0 { throw ExitCode(1) }
    }
}

/// One line on stderr, redrawn at most five times a second: how far through the file, events stored, the rate.
final class ProgressBar: @unchecked Sendable {
    let total: Int64?
    let enabled: Bool
    let started = Date()
    var lastDrawn = Date.distantPast
    var drew = false

    init(total: Int64?, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func show(_ status: StoreOperations.ImportStatus) {
        guard enabled, Date().timeIntervalSince(lastDrawn) >= 0.2 else { return }
        lastDrawn = Date()
        drew = true
        let seconds = max(Date().timeIntervalSince(started), 0.001)
        let rate = Int(Double(status.stored + status.duplicates) / seconds)
        var line = ""
        if let total, total > 0 {
            let fraction = min(1, Double(status.bytesRead) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            line += String(format: "%3.0f%% ", fraction * 100)
        }
        line += "\(status.stored) events stored, \(status.lines) lines, \(rate)/s"
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    func finish() {
        if drew { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Apply TALLY_EVENT_RETENTION_DAYS and TALLY_ROLLUP_RETENTION_DAYS now (tally serve does it hourly).",
        discussion: """
            Raw events older than the limit (from the UTC midnight that many days ago) are deleted in chunks; the
            rollups stay, so summaries of whole days are unchanged. Rollups older than their own limit go with their
            events. Prints what was deleted and how long it took.
            """)
    @Option(name: .customLong("event-days"), help: "Keep raw events this many days (overrides the environment).")
    var eventDays: Int?
    @Option(name: .customLong("rollup-days"), help: "Keep rollups this many days (overrides the environment).")
    var rollupDays: Int?
    @OptionGroup var store: StoreOptions

    func run() async throws {
        for (name, days) in [("--event-days", eventDays), ("--rollup-days", rollupDays)] {
            if let days, !(1...36_500).contains(days) { fail("\(name) must be a whole number from 1 to 36500") }
        }
        try await withConfiguredStore(store.flags, .write) { [eventDays, rollupDays] config, _, store in
            var policy = config.retention
            if let eventDays { policy.eventDays = eventDays }
            if let rollupDays { policy.rollupDays = rollupDays }
            guard !policy.keepsEverything else {
                fail(
                    "no retention is set: TALLY_EVENT_RETENTION_DAYS, TALLY_ROLLUP_RETENTION_DAYS, --event-days or --rollup-days"
                )
            }
            let started = Date()
            let outcome = try await StoreOperations.applyRetention(store: store, policy: policy)
            let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
            print(
                "deleted \(outcome.eventsDeleted) raw events before "
                    + "\(outcome.boundaries.rawEventsFrom?.rfc3339 ?? "-") and \(outcome.rollupRowsDeleted) rollup rows "
                    + "in \(seconds) s")
        }
    }
}

struct PartitionEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partition-events",
        abstract:
            "PostgreSQL: convert the events table to monthly partitions now (tally serve does it in the background).",
        discussion: """
            A database whose events were stored before partitioning keeps them in one table until they are copied,
            batch by batch, into the partitioned table, which then takes its place. Each batch is a short transaction:
            tally serve keeps ingesting and answering meanwhile. Interrupted, it continues where it stopped. Prints
            its progress; exits 0 once events are partitioned.
            """)
    @Option(name: .customLong("batch-size"), help: "Events copied per transaction (default 10000).")
    var batchSize = 10_000
    @OptionGroup var store: StoreOptions

    func run() async throws {
        guard (1...1_000_000).contains(batchSize) else { fail("--batch-size must be a whole number from 1 to 1000000") }
        try await withConfiguredStore(store.flags, .write) { [batchSize] _, _, store in
            let started = Date()
            var copied = 0
            var failures = 0
            loop: while true {
                let step: EventPartitioningStep
                do {
                    step = try await store.partitionEventsStep(batch: batchSize)
                    failures = 0
                } catch TallyError.unavailable(let reason) where failures < 30 {
                    // A batch gave up waiting for writers in progress (it never holds them up long): again shortly.
                    failures += 1
                    FileHandle.standardError.write(Data("tally: \(reason); trying again\n".utf8))
                    try await Task.sleep(for: .seconds(2))
                    continue
                }
                switch step {
                case .notApplicable:
                    fail("the embedded SQLite store keeps events in one table; partitions are for PostgreSQL")
                case .copied(let n):
                    copied += n
                    if copied / 100_000 != (copied - n) / 100_000 { print("copied \(copied) events") }
                case .finished:
                    break loop
                }
            }
            try await store.prepareEventPartitions(through: Instant.now.adding(seconds: 62 * 86_400))
            let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
            print("events are partitioned by month (\(copied) copied in \(seconds) s)")
        }
    }
}

struct MigrateStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Copy an embedded SQLite store into PostgreSQL: everything, with counts and money sums compared.",
        discussion: """
            Both schemas are brought to this version first. While it copies, the SQLite file is locked for writing:
            a tally serve on it keeps answering reads, and its writes answer 503 until the copy ends. The PostgreSQL
            database (--to, else TALLY_DATABASE_URL) must be empty, unless --resume finishes a move that was
            interrupted (every table but the events copied again, the events continued) or --restart copies
            everything again. Exits 1 when a count or a sum differs. Then start tally serve with TALLY_DATABASE_URL
            set to the new database, and the same master key (TALLY_MASTER_KEY_FILE=<old data dir>/master.key): the
            provider keys are sealed under it. docs/operations.md has the details.
            """)
    @Option(help: "The SQLite file (e.g. ./tally-data/tally.sqlite).") var from: String
    @Option(
        help:
            "postgres://user:password@host:port/database (default: TALLY_DATABASE_URL, which keeps the password out of the command line)."
    )
    var to: String?
    @Flag(help: "Continue a move that was interrupted, into the database it had started filling.") var resume = false
    @Flag(help: "Empty the database a move had started filling and copy everything again.") var restart = false
    @Option(name: .customLong("log-level"), help: "Log level (default warning).") var logLevel = "warning"

    func run() async throws {
        var logger = Logger(label: "tally")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        let terminal = isatty(STDERR_FILENO) == 1
        guard let target = to ?? ProcessInfo.processInfo.environment["TALLY_DATABASE_URL"], !target.isEmpty else {
            fail("name the PostgreSQL database: --to postgres://… or TALLY_DATABASE_URL")
        }
        let result = try await reportingFailures {
            try await StoreMove.run(from: from, to: target, resume: resume, restart: restart, logger: logger) {
                table, rows in
                if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K\(table): \(rows) rows".utf8)) }
            }
        }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        for (table, rows) in result.copied { print("\(table)\t\(rows) rows copied") }
        for check in result.checks where check.name.hasPrefix("money.") {
            print("\(check.name)\tsource \(check.source)\ttarget \(check.target)")
        }
        let mismatches = result.mismatches
        guard mismatches.isEmpty else {
            fail(
                "the copy differs from the source in \(mismatches.joined(separator: ", ")): events changed since the "
                    + "interrupted move (a re-pricing, retention); stop tally serve and run it again with --restart")
        }
        print("moved: \(result.checks.count) counts and sums equal on both sides")
    }
}
