import Foundation
import Testing

/// Text snapshots kept as files `<name>.<fileExtension>` in one folder, compared after `normalize` (which should make
/// a diff readable and mask what legitimately changes, such as a content hash). `TALLY_RECORD_SNAPSHOTS=1` rewrites
/// them; a missing one is written and reported, so a new snapshot is never passed silently.
package struct SnapshotFolder: Sendable {
    package let directory: URL
    package let fileExtension: String
    package let normalize: @Sendable (String) -> String

    package init(
        directory: URL, fileExtension: String = "html", normalize: @escaping @Sendable (String) -> String = { $0 }
    ) {
        self.directory = directory
        self.fileExtension = fileExtension
        self.normalize = normalize
    }

    /// Records an issue at the caller naming the first line that differs from the snapshot `name`.
    package func check(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fileName = name + "." + fileExtension
        let file = directory.appendingPathComponent(fileName)
        let actual = normalize(text)
        let record = ProcessInfo.processInfo.environment["TALLY_RECORD_SNAPSHOTS"] == "1"
        guard !record, let expected = try? String(contentsOf: file, encoding: .utf8) else {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try actual.write(to: file, atomically: true, encoding: .utf8)
            if !record {
                Issue.record("recorded a new snapshot \(fileName); check it in", sourceLocation: sourceLocation)
            }
            return
        }
        if expected != actual {
            let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let b = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let line = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
            Issue.record(
                """
                \(fileName) differs at line \(line + 1):
                  expected: \(line < a.count ? String(a[line]) : "<end>")
                  actual:   \(line < b.count ? String(b[line]) : "<end>")
                (TALLY_RECORD_SNAPSHOTS=1 rewrites snapshots)
                """, sourceLocation: sourceLocation)
        }
    }
}
